"""Listing members and contacts costs a fixed number of queries whatever the page size."""

from tests.conftest import add_member


def _grow(world, n):
    for i in range(n):
        add_member(
            world.api,
            world.owner,
            world.chain_id,
            f"Dealer {i:03d}",
            "dealer",
            f"GEN-{i:03d}",
            f"Dealers/Region {i % 3}",
            f"gen{i}@d.example",
        )


def test_members_and_contacts_no_n_plus_one(world, count_queries):
    _grow(world, 12)
    api, t = world.api, world.owner.token
    api.get(world.path("/members"), token=t)  # builds the tier cache once
    for path in ("/members", "/members?tier=unlinked", "/members?group=Dealers", "/contacts"):
        counts = []
        for size in (2, 10):
            with count_queries() as counter:
                r = api.get(
                    world.path(f"{path}{'&' if '?' in path else '?'}page_size={size}"), token=t
                )
                assert r.status_code == 200
            assert len(r.json()["items"]) == size
            counts.append(counter.count)
        assert counts[0] == counts[1], (path, counts)


def test_partner_listing_is_fixed_cost_too(world, count_queries):
    _grow(world, 6)
    api, t = world.api, world.owner.token
    api.post(
        world.path("/rules"),
        {"viewers": {"groups": ["Dealers"]}, "visible": {"groups": ["Dealers"]}},
        token=t,
    )
    d1a = world.parties["D1a"]
    api.get(world.path("/members"), token=d1a.token)  # builds the tier cache once
    counts = []
    for size in (2, 8):
        with count_queries() as counter:
            r = api.get(world.path(f"/members?page_size={size}"), token=d1a.token)
        assert len(r.json()["items"]) == size
        counts.append(counter.count)
    assert counts[0] == counts[1]
