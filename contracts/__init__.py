"""paas.contracts: what the platform's processes agree on (README.md); imports nothing of the layers."""
