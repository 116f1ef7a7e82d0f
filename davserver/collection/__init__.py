"""Collection operations: what arrived from which site, what runs after it, who went quiet."""
