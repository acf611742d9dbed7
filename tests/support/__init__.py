"""Test support: throwaway databases, loopback HTTP servers standing in for the provider and
merchants, and helpers shared by the test suites."""
