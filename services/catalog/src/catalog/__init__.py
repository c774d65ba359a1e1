"""The catalog service: the KPI module library and contract templates' KPI sets."""
