"""Domain models and rules; imports no SQLAlchemy, no pika."""
