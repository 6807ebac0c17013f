"""The pages without a browser: plain form posts (no JavaScript), sessions, CSRF, access, i18n."""

from __future__ import annotations

import re

from tests.conftest import PASSWORD
from tests.ui.conftest import Scene, issue_order, send_notice, ship_all


def _tiles(html: str) -> dict[str, str]:
    """The home page's to-do tiles: label -> count."""
    found = re.findall(r'<span class="n">(\d+)</span><span class="t">([^<]+)</span>', html)
    return {label: count for count, label in found}


def test_sign_in_sets_a_safe_cookie_and_sign_out_revokes_it(scene: Scene, web):
    w = scene.world
    browser = web()
    page = browser.get("/login")
    assert page.status_code == 200 and 'name="csrf_token"' in page.text
    response = browser.post(
        "/login", {"email": w.parties["D1a"].email, "password": PASSWORD}, allow_redirects=False
    )
    assert response.status_code == 302 and response.headers["Location"].endswith("/home")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    home = browser.get("/home")
    assert home.status_code == 200 and "Acme dealers" in home.text
    stolen = browser.cookies()
    out = browser.post("/logout", allow_redirects=False)
    assert out.status_code == 302
    # The old cookie is worthless: its login token was revoked.
    replay = web()
    replay.add_cookies(stolen)
    again = replay.get("/home", allow_redirects=False)
    assert again.status_code == 302 and "/login" in again.headers["Location"]


def test_wrong_password_is_one_message_and_no_session(scene: Scene, web):
    browser = web()
    browser.get("/login")
    bad = browser.post("/login", {"email": scene.world.parties["D1a"].email, "password": "nope"})
    assert bad.status_code == 401 and "Wrong email or password." in bad.text
    unknown = browser.post("/login", {"email": "nobody@example.com", "password": "whatever1"})
    assert unknown.status_code == 401 and "Wrong email or password." in unknown.text
    assert browser.get("/home", allow_redirects=False).status_code == 302


def test_login_redirects_only_within_the_site(scene: Scene, web):
    browser = web()
    browser.get("/login")
    response = browser.post(
        "/login",
        {
            "email": scene.world.parties["D1a"].email,
            "password": PASSWORD,
            "next": "https://evil.example/",
        },
        allow_redirects=False,
    )
    assert response.headers["Location"].endswith("/home")
    target = scene.page(f"/notices/{scene.notice_id}")
    other = web()
    first = other.get(target, allow_redirects=False)
    assert first.status_code == 302 and "/login?next=" in first.headers["Location"]
    other.get("/login")
    back = other.post(
        "/login",
        {"email": scene.world.parties["D1a"].email, "password": PASSWORD, "next": target},
        allow_redirects=False,
    )
    assert back.headers["Location"].endswith(target)


def test_posts_without_or_with_a_wrong_csrf_token_are_refused(scene: Scene, web):
    w = scene.world
    browser = web()
    browser.login(w.parties["D1a"].email)
    ack = scene.page(f"/notices/{scene.notice_id}/ack")
    missing = browser.post(ack, {}, csrf=False)
    assert missing.status_code == 400 and "<html" in missing.text
    wrong = browser.post(ack, {"csrf_token": "x" * 43}, csrf=False)
    assert wrong.status_code == 400
    # Nothing was acknowledged.
    recipients = w.api.get(w.path(f"/notices/{scene.notice_id}/recipients"), token=w.owner.token)
    assert recipients.json()["totals"]["acked"] == 0
    # Sign-in needs the token too (no login CSRF).
    fresh = web()
    refused = fresh.post(
        "/login", {"email": w.parties["D1a"].email, "password": PASSWORD}, csrf=False
    )
    assert refused.status_code == 400


def test_activate_with_an_invitation_code(scene: Scene, web):
    w = scene.world
    added = w.api.post(
        w.path(f"/members/{w.parties['D1a'].org_id}/contacts"),
        {"name": "New Person", "email": "new@bj.example"},
        token=w.owner.token,
    ).json()
    browser = web()
    browser.get("/activate")
    short = browser.post(
        "/activate",
        {"invite_code": added["invite_code"], "password": "short", "password2": "short"},
    )
    assert short.status_code == 422 and "At least 8 characters." in short.text
    wrong = browser.post(
        "/activate",
        {"invite_code": "AAAA-BBBB-CCCC-DDDD", "password": PASSWORD, "password2": PASSWORD},
    )
    assert wrong.status_code == 404 and "Unknown or already used invitation code." in wrong.text
    done = browser.post(
        "/activate",
        {"invite_code": added["invite_code"].lower(), "password": PASSWORD, "password2": PASSWORD},
    )
    assert done.status_code == 200 and "/home" in done.url and "New Person" in done.text
    again = web()
    again.get("/activate")
    reused = again.post(
        "/activate",
        {"invite_code": added["invite_code"], "password": PASSWORD, "password2": PASSWORD},
    )
    assert reused.status_code == 404


def test_home_shows_what_waits(scene: Scene, web):
    w = scene.world
    browser = web()
    home = browser.login(w.parties["D1a"].email)
    text = home.text
    assert "Unread notices" in text and "Orders to acknowledge" in text
    tiles = _tiles(text)
    assert tiles["Unread notices"] == "1" and tiles["Notices to acknowledge"] == "1"
    assert tiles["Orders to acknowledge"] == "1" and tiles["Shipments to receive"] == "0"
    # The owner issued the order: nothing to acknowledge there; it has no notice in its inbox.
    owner = web()
    owner_home = owner.login(w.owner.email).text
    owner_tiles = _tiles(owner_home)
    assert owner_tiles["Orders to acknowledge"] == "0" and owner_tiles["Unread notices"] == "0"


def test_notice_ack_and_response_by_form(scene: Scene, web):
    w = scene.world
    browser = web()
    browser.login(w.parties["D1a"].email)
    page = browser.get(scene.page(f"/notices/{scene.notice_id}"))
    assert page.status_code == 200 and "BRK-100" in page.text and "Acknowledge" in page.text
    acked = browser.post(scene.page(f"/notices/{scene.notice_id}/ack"), {"note": "Noted"})
    assert acked.status_code == 200 and "Acknowledged at" in acked.text
    respond = scene.page(f"/notices/{scene.notice_id}/respond")
    bad = browser.post(
        respond,
        {"items-0-sku": "BRK-100", "items-0-qty": "-3", "items-1-sku": "BRK-200"},
    )
    assert bad.status_code == 422
    assert re.search(r'name="items-0-qty"[^>]*>\s*<span class="field-error"[^>]*>', bad.text)
    assert "Must be greater than 0." in bad.text
    empty = browser.post(respond, {"items-0-sku": "BRK-100", "items-1-sku": "BRK-200"})
    assert empty.status_code == 422 and "Give a quantity for at least one item." in empty.text
    good = browser.post(
        respond,
        {"items-0-sku": "BRK-100", "items-0-qty": "40", "items-1-sku": "BRK-200"},
    )
    assert good.status_code == 200 and "Your quantities were sent." in good.text
    recipients = w.api.get(
        w.path(f"/notices/{scene.notice_id}/recipients"), token=w.owner.token
    ).json()
    assert recipients["totals"] == {"recipients": 2, "read": 1, "acked": 1, "responded": 1}
    assert recipients["responses_by_sku"] == [{"sku": "BRK-100", "qty": "40"}]


def test_order_acknowledgment_errors_sit_next_to_their_field(scene: Scene, web):
    w = scene.world
    browser = web()
    browser.login(w.parties["D1a"].email)
    order_page = scene.page(f"/orders/{scene.order_id}")
    page = browser.get(order_page)
    assert page.status_code == 200 and "Acknowledge this order" in page.text
    ack = scene.page(f"/orders/{scene.order_id}/ack")
    form = {
        "version": "1",
        "decision": "lines",
        "lines-0-line_no": "1",
        "lines-0-status": "accepted",
        "lines-1-line_no": "2",
        "lines-1-status": "changed",
        "lines-1-qty": "abc",
    }
    bad = browser.post(ack, form)
    assert bad.status_code == 422
    cell = re.search(r'name="lines-1-qty".*?</td>', bad.text, re.S).group(0)
    assert "Not a valid decimal." in cell and 'value="abc"' in cell
    # A rule of the service (nothing differs for a "changed" line) lands on its field too.
    same = browser.post(ack, {**form, "lines-1-qty": ""})
    assert same.status_code == 422
    status_cell = re.search(r'name="lines-1-status".*?</td>', same.text, re.S).group(0)
    assert "Nothing differs from the order line" in status_cell
    good = browser.post(ack, {**form, "lines-1-qty": "8", "lines-1-promised_date": "2026-12-20"})
    assert good.status_code == 200 and "Your acknowledgment was recorded." in good.text
    order = w.api.get(w.path(f"/orders/{scene.order_id}"), token=w.owner.token).json()
    assert order["status"] == "accepted_with_changes" and order["ack_code"] == "AC"
    assert [line["ack_code"] for line in order["lines"]] == ["IA", "IC"]
    stale = browser.post(ack, form | {"lines-1-qty": "7"})
    assert stale.status_code == 409 and "Current version is 2." in stale.text


def test_shipment_and_receipt_forms(scene: Scene, web):
    w = scene.world
    order_id = scene.order_id
    w.api.post(
        w.path(f"/orders/{order_id}/ack"),
        {"version": 1, "decision": "accept"},
        token=w.parties["D1a"].token,
    )
    seller = web()
    seller.login(w.owner.email)
    page = seller.get(scene.page(f"/orders/{order_id}"))
    assert "Record a shipment" in page.text and "Record goods received" not in page.text
    over = seller.post(
        scene.page(f"/orders/{order_id}/ship"),
        {"ship-0-line_no": "1", "ship-0-qty": "11", "ship-1-line_no": "2"},
    )
    assert over.status_code == 409
    cell = re.search(r'name="ship-0-qty".*?</td>', over.text, re.S).group(0)
    assert "Over-shipping line 1" in cell
    shipped = seller.post(
        scene.page(f"/orders/{order_id}/ship"),
        {"ship-0-line_no": "1", "ship-0-qty": "10", "ship-1-line_no": "2", "ship-1-qty": "4"},
    )
    assert shipped.status_code == 200 and "Shipment recorded." in shipped.text
    buyer = web()
    home = buyer.login(w.parties["D1a"].email).text
    assert re.search(r'<span class="n">1</span><span class="t">Shipments to receive', home)
    receive = scene.page(f"/orders/{order_id}/receive")
    too_much = buyer.post(receive, {"receive-0-line_no": "1", "receive-0-qty": "12"})
    assert too_much.status_code == 409 and "Over-receiving line 1" in too_much.text
    got = buyer.post(
        receive,
        {"receive-0-line_no": "1", "receive-0-qty": "10", "ref": "DN-1"},
    )
    assert got.status_code == 200 and "Receipt recorded." in got.text
    order = w.api.get(w.path(f"/orders/{order_id}"), token=w.owner.token).json()
    assert [line["received_qty"] for line in order["lines"]] == ["10", "0"]
    assert order["history"][-1]["kind"] == "received"


def test_a_dealer_cannot_open_another_dealers_order(scene: Scene, web):
    w = scene.world
    other_order = issue_order(w, buyer="D1b")
    browser = web()
    browser.login(w.parties["D1a"].email)
    response = browser.get(scene.page(f"/orders/{other_order['id']}"))
    assert response.status_code == 404 and "No such order." in response.text
    post = browser.post(
        scene.page(f"/orders/{other_order['id']}/ack"), {"version": "1", "decision": "accept"}
    )
    assert post.status_code == 404
    assert browser.get(scene.page("/orders/abc")).status_code == 404


def test_access_checks_on_pages(scene: Scene, web):
    w = scene.world
    dealer = web()
    dealer.login(w.parties["D1a"].email)
    assert dealer.get(scene.page("/grants")).status_code == 403
    assert dealer.get(scene.page("/map")).status_code == 403
    assert dealer.get(scene.page("/members/new")).status_code == 403
    assert dealer.get(scene.page(f"/notices/{scene.notice_id}/recipients")).status_code == 403
    outsider = web()
    outsider.login(w.outsider.email)
    for path in ("", "/notices", "/orders", f"/orders/{scene.order_id}", "/map", "/members"):
        response = outsider.get(scene.page(path))
        assert response.status_code == 404, path
        assert "<html" in response.text
    assert outsider.get("/chains/99999999999999999999999").status_code == 404


def test_unknown_pages_are_html_and_the_api_stays_json(web):
    browser = web()
    page = browser.get("/no/such/page")
    assert page.status_code == 404 and page.headers["Content-Type"].startswith("text/html")
    api = browser.get("/api/v1/no/such/thing")
    assert api.status_code == 404 and api.json()["code"] == 404
    method = browser.request("DELETE", "/login")
    assert method.status_code == 405


def test_language_switch_shows_chinese(scene: Scene, web):
    browser = web()
    browser.login(scene.world.parties["D1a"].email)
    response = browser.post("/language", {"lang": "zh", "next": "/home"})
    assert response.status_code == 200 and "未读通知" in response.text
    assert 'lang="zh-CN"' in response.text
    browser.post("/logout")
    assert "登录" in browser.get("/login").text
    back = browser.post("/language", {"lang": "en", "next": "//evil.example"})
    assert back.url.endswith("/") and "Sign in" in back.text
    chinese = web()
    accept = chinese.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert "登录" in accept.text


def test_owner_composes_a_notice_and_follows_progress(scene: Scene, web):
    w = scene.world
    browser = web()
    browser.login(w.owner.email)
    form = browser.get(scene.page("/notices/new"))
    assert form.status_code == 200 and 'value="D1"' in form.text
    more = browser.post(scene.page("/notices/new"), {"action": "more_rows", "rows": "3"})
    assert more.status_code == 200 and 'name="items-5-sku"' in more.text
    missing = browser.post(
        scene.page("/notices/new"),
        {"kind": "supply", "title": "", "items-0-sku": "X-1", "items-0-qty": "0"},
    )
    assert missing.status_code == 422
    assert re.search(r'name="title".*?Must not be blank|Missing data', missing.text, re.S)
    assert "Must be greater than 0." in re.search(
        r'name="items-0-qty".*?</td>', missing.text, re.S
    ).group(0)
    nobody = browser.post(
        scene.page("/notices/new"),
        {"kind": "demand", "title": "Need steel", "items-0-sku": "ST-1", "items-0-qty": "5"},
    )
    assert nobody.status_code == 422 and "Matches no member other than you." in nobody.text
    sent = browser.post(
        scene.page("/notices/new"),
        [
            ("kind", "supply"),
            ("title", "Wipers in stock"),
            ("items-0-sku", "WP-1"),
            ("items-0-qty", "100"),
            ("tiers", "D1"),
            ("tiers", "D2"),
            ("requires_ack", "1"),
            ("ack_due", "2099-01-01T09:00"),
        ],
    )
    assert sent.status_code == 200 and "Sent to 3 recipients." in sent.text
    assert "0 / 3" in sent.text
    notices = w.api.get(w.path("/notices?box=sent"), token=w.owner.token).json()["items"]
    assert notices[0]["title"] == "Wipers in stock" and notices[0]["ack_due"].startswith(
        "2099-01-01T01:00"
    )


def test_a_partner_composes_only_to_the_owner_and_linked_orgs(scene: Scene, web):
    w = scene.world
    browser = web()
    browser.login(w.parties["D1a"].email)
    form = browser.get(scene.page("/notices/new")).text
    assert 'name="tiers"' not in form and "Tianjin Sub-dealer" in form
    assert "Shanghai Auto Trade" not in form
    refused = browser.post(
        scene.page("/notices/new"),
        {
            "kind": "demand",
            "title": "Need",
            "orgs": w.parties["D1b"].org_id,
            "items-0-sku": "A",
            "items-0-qty": "1",
        },
    )
    assert refused.status_code == 403 and "You may not address these orgs" in refused.text
    sent = browser.post(
        scene.page("/notices/new"),
        {"kind": "demand", "title": "Need", "orgs": w.owner.org_id},
    )
    assert sent.status_code == 200 and "Sent to 1 recipients." in sent.text


def test_owner_issues_and_dealer_lists_orders(scene: Scene, web):
    w = scene.world
    dealer = web()
    dealer.login(w.parties["D1a"].email)
    listing = dealer.get(scene.page("/orders?waiting=to_ack"))
    assert listing.status_code == 200 and listing.text.count("/orders/") >= 1
    assert "PO-" not in listing.text
    new = dealer.get(scene.page("/orders/new"))
    assert "Buy from Acme Motors" in new.text and "Sell to Tianjin Sub-dealer" in new.text
    bad = dealer.post(
        scene.page("/orders/new"),
        {"counterparty": f"buyer:{w.owner.org_id}", "lines-0-sku": "A", "lines-0-qty": "1"},
    )
    assert bad.status_code == 422
    assert "Missing data for required field." in re.search(
        r'name="lines-0-unit_price".*?</td>', bad.text, re.S
    ).group(0)
    made = dealer.post(
        scene.page("/orders/new"),
        {
            "counterparty": f"buyer:{w.owner.org_id}",
            "lines-1-sku": "A",
            "lines-1-qty": "2",
            "lines-1-unit_price": "3.5",
        },
    )
    assert made.status_code == 200 and "Order PO-" in made.text
    filtered = dealer.get(scene.page("/orders?status=issued"))
    assert filtered.text.count('class="badge warn">issued') == 2


def test_owner_directory_admin(scene: Scene, web):
    w = scene.world
    admin = web()
    admin.login(w.owner.email)
    members = admin.get(scene.page("/members?tier=D1"))
    assert "Beijing Motors Sales" in members.text and "Steel Works" not in members.text
    assert admin.get(scene.page("/members?tier=X9")).status_code == 200
    dup = admin.post(
        scene.page("/members/new"),
        {
            "org_name": "Xi'an Motors",
            "org_kind": "dealer",
            "custom_id": "DLR-001",
            "contacts-0-name": "Li",
            "contacts-0-email": "li@xa.example",
        },
    )
    assert dup.status_code == 409 and "Already in use." in dup.text
    bad_email = admin.post(
        scene.page("/members/new"),
        {
            "org_name": "Xi'an Motors",
            "org_kind": "dealer",
            "custom_id": "DLR-009",
            "contacts-1-name": "Li",
            "contacts-1-email": "not-an-email",
        },
    )
    assert bad_email.status_code == 422
    assert "Not a valid email address." in re.search(
        r'name="contacts-1-email".*?</td>', bad_email.text, re.S
    ).group(0)
    added = admin.post(
        scene.page("/members/new"),
        {
            "org_name": "Xi'an Motors",
            "org_kind": "dealer",
            "custom_id": "DLR-009",
            "group": "Dealers/West",
            "contacts-0-name": "Li",
            "contacts-0-email": "li@xa.example",
            "contacts-0-role": "admin",
        },
    )
    assert added.status_code == 200 and "li@xa.example: " in added.text
    code = re.search(r"li@xa\.example: ([A-Z0-9-]{19})", added.text).group(1)
    assert w.api.post("/auth/activate", {"invite_code": code, "password": PASSWORD}).ok
    groups = admin.post(scene.page("/groups"), {"path": "Dealers/West/Xi'an"})
    assert groups.status_code == 200 and "Dealers/West/Xi&#39;an" in groups.text
    bad_group = admin.post(scene.page("/groups"), {"path": "a//b"})
    assert bad_group.status_code == 422 and "Empty path segment" in bad_group.text
    grant = admin.post(
        scene.page("/grants"), {"app": "notices", "scope_type": "tier", "scope_value": "X9"}
    )
    assert grant.status_code == 422 and "Not a tier: X9" in grant.text
    made = admin.post(
        scene.page("/grants"), {"app": "notices", "scope_type": "tier", "scope_value": "D2"}
    )
    assert made.status_code == 200 and "Shared." in made.text
    grants = w.api.get(w.path("/grants"), token=w.owner.token).json()["items"]
    tier_grant = next(g for g in grants if g["scope"] == {"type": "tier", "value": "D2"})
    revoked = admin.post(scene.page(f"/grants/{tier_grant['id']}/revoke"))
    assert revoked.status_code == 200 and "Revoked." in revoked.text
    assert admin.post(scene.page(f"/grants/{tier_grant['id']}/revoke")).status_code == 404


def test_chain_map_and_member_page(scene: Scene, web):
    w = scene.world
    admin = web()
    admin.login(w.owner.email)
    page = admin.get(scene.page("/map"))
    assert page.status_code == 200 and "<svg" in page.text and "<?xml" not in page.text
    d1a = w.parties["D1a"].org_id
    assert f'href="/chains/{w.chain_id}/members/{d1a}"' in page.text
    member = admin.get(scene.page(f"/members/{d1a}"))
    assert "d1a@bj.example" in member.text and "If this organisation stops" in member.text
    assert "Tianjin Sub-dealer" in member.text  # D2 is cut off without D1a
    contact = admin.post(
        scene.page(f"/members/{d1a}/contacts"), {"name": "Second", "email": "d1a@bj.example"}
    )
    assert contact.status_code == 409 and "Already a contact." in contact.text
    edit = admin.post(scene.page(f"/members/{d1a}/edit"), {"custom_id": "", "group": ""})
    assert edit.status_code == 200
    dealer = web()
    dealer.login(w.parties["D1a"].email)
    own = dealer.get(scene.page(f"/members/{d1a}"))
    assert own.status_code == 200 and "If this organisation stops" not in own.text
    assert dealer.get(scene.page(f"/members/{w.parties['D1b'].org_id}")).status_code == 404


def test_withdraw_and_repeat_actions_never_fail_badly(scene: Scene, web):
    w = scene.world
    notice = send_notice(w, title="Second", requires_ack=False)
    owner = web()
    owner.login(w.owner.email)
    first = owner.post(scene.page(f"/notices/{notice['id']}/withdraw"))
    assert first.status_code == 200 and "The notice was withdrawn." in first.text
    second = owner.post(scene.page(f"/notices/{notice['id']}/withdraw"))
    assert second.status_code == 200 and "withdrawn already" in second.text
    dealer = web()
    dealer.login(w.parties["D1a"].email)
    late = dealer.post(scene.page(f"/notices/{notice['id']}/ack"))
    assert late.status_code == 409
    dealer.post(scene.page(f"/orders/{scene.order_id}/ack"), {"version": "1", "decision": "accept"})
    ship_all(w.api, w, scene.order_id)
    after = dealer.get(scene.page(f"/orders/{scene.order_id}"))
    assert "Acknowledge this order" not in after.text and "Record goods received" in after.text
    garbage = dealer.post(
        scene.page(f"/orders/{scene.order_id}/ack"),
        {"version": "x", "decision": "maybe", "lines-99999999-line_no": "0"},
    )
    assert garbage.status_code == 422


def test_control_characters_and_header_tricks_are_refused(scene: Scene, web):
    w = scene.world
    admin = web()
    admin.login(w.owner.email)
    assert admin.get(scene.page("/members?q=a%00b")).status_code == 400
    grant = admin.post(
        scene.page("/grants"),
        {"app": "notices", "scope_type": "group", "scope_value": "Dealers\x00"},
    )
    assert grant.status_code == 400 and "Control characters" in grant.text
    bad_filter = admin.get(scene.page("/members?kind=planet&tier=Z1"))
    assert bad_filter.status_code == 200 and "Not a tier" in bad_filter.text
    other = web()
    other.get("/login")
    response = other.post(
        "/login",
        {"email": w.owner.email, "password": PASSWORD, "next": "/chains\r\nSet-Cookie: x=1"},
        allow_redirects=False,
    )
    assert response.status_code == 302 and response.headers["Location"].endswith("/home")
    other.get("/login")  # signed in now: a fresh CSRF token comes with the page
    clean = other.post(
        "/login",
        {"email": w.owner.email, "password": PASSWORD, "next": "/x y"},
        allow_redirects=False,
    )
    assert clean.headers["Location"].endswith("/home")
