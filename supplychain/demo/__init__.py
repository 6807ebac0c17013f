"""Demo data, not a service: `seeding` loads a seed file (seeds/demo.json) through the services as
a user would (orgs, chain, links, grants), and `activity` plays its weeks of activity (orders,
notices, runs, statements' answers). Used by `supplychain seed-demo` and the tests only.
"""
