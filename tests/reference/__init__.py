"""The app's original live analytics queries: the oracle of the differential tests."""
