"""What the metrics service decides: which records are admitted, what the numbers are, what expires."""
