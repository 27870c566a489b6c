"""Typed messages that cross a process boundary, read by the same models on both sides.

``node``: the pyannote node's ``invocations`` protocol (requests, replies, the error body).
"""
