"""Import partners and their people from an Excel sheet."""
