"""What a cohort is: its generations (membership), their job specs, and what they will cost."""
