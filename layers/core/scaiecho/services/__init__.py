"""Use cases: one public function per use case; they call domain logic and adapters."""
