"""The demo has a custom app, "Dealer portal", registered as an OpenID Connect client and shared
with tier D1: the Beijing dealer sees its tile, the Langfang sub-dealer (D2) does not."""

from __future__ import annotations

from supplychain.demo.seeding import DEFAULT_SEED, load_demo, read_seed
from supplychain.extensions import db

SEED = read_seed(DEFAULT_SEED)


def test_the_demo_shares_the_dealer_portal_with_d1(app, web):
    with app.app_context():
        load_demo(db.session, DEFAULT_SEED)
        db.session.commit()
    dealer = web()
    dealer.login("wang.fang@bj-huaxia-auto.example", SEED["password"])
    home = dealer.get("/home").text
    assert "Dealer portal" in home and 'href="http://127.0.0.1:8089/app/"' in home
    sub_dealer = web()
    sub_dealer.login("dong.mei@lf-xinda-motors.example", SEED["password"])
    assert "Dealer portal" not in sub_dealer.get("/home").text
    owner = web()
    owner.login("zhang.wei@huaxia-motor.example", SEED["password"])
    chain_link = owner.get("/home").text.split('href="/chains/')[1].split('"')[0].split("/")[0]
    sharing = owner.get(f"/chains/{chain_link}/grants").text
    assert "dealer-portal" in sharing and "sca_" in sharing
