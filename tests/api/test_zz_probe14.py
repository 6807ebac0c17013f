import time
from tests.api.test_ship_notices import _notice, _order, chain  # noqa

def test_many_lines(chain):
    w = chain
    orders = [_order(w, n=50) for _ in range(6)]
    lines = [{"order_id": o["id"], "line_no": i + 1, "qty": "1"} for o in orders for i in range(50)]
    n = _notice(w, lines=lines).json()
    t = time.time()
    r = w.api.get(w.path(f"/ship-notices/{n['id']}/delivery-note.pdf"), token=w.owner.token)
    print("note", r.status_code, round(time.time() - t, 2))
