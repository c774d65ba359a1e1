"""Event schemas, enums and exchange/routing-key names shared by every KPI service."""
