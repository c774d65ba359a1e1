"""Contract-system simulator: a stand-in for the external contract system.

The real contract system is outside this project. This small app plays its part for demos and
end-to-end tests: it lists a few contract templates and people, and publishes the real lifecycle
events (ContractCreated with kpi_selection, RoleChanged, StaffExited) to `hr.lifecycle`.
"""
