"""Tests of the aerich migrations: round trip, data survival, drift, concurrent upgrades, start-up refusal."""
