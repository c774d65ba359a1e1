"""Test support: isolated databases and vhosts on real servers, and small factories."""
