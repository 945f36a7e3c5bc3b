"""The data root on disk: where every file lives, atomic writes, the response archive, housekeeping, the run lock."""
