"""genopt: a command-line training harness for generative models."""

__version__ = "0.1.0"
