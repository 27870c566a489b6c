"""The embedded default: the same code on one machine, with moto standing in for AWS."""
