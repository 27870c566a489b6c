"""`scaiecho invoke` against a local stack of its own.

Apart from tests/e2e on purpose: starting a stack resets moto's in-process backends, so this
package runs only after tests/e2e's package-scoped stack has been stopped.
"""
