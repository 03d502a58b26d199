"""The broker port and its adapters (RabbitMQ through pika, and in-memory)."""
