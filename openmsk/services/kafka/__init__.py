from .provider import KafkaProvider

__all__ = ["KafkaProvider"]
