"""The S3 storage provider: immutable objects in a bucket, the namespace in the state database."""

from providers.s3.location import S3Access, S3ConfigError, S3Location
from providers.s3.provider import S3Provider

__all__ = ["S3Access", "S3ConfigError", "S3Location", "S3Provider"]
