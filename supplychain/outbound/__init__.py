"""Everything that leaves the service on its own: the delivery worker and its channels.

The worker (`worker.py`) claims due deliveries with a lease, hands each channel its share of
the batch outside any transaction, and records the `Outcome`s where it still holds the lease.
A channel (`channel.Channel`) has a `name` (the `Delivery.channel` it sends), `send(app,
claimed) -> {delivery id: Outcome}` and `release(app)`; `channels.CHANNELS` lists the ones a
worker runs: webhooks (`webhooks.py`, WeCom robots through `robot.py`) and email (`mail/`).

Adding a channel is one file and one line:

    # supplychain/outbound/logout.py
    class LogoutChannel(Channel):
        name = "logout"

        def send(self, app, claimed):
            client = http.resources(app).client   # the SSRF-guarded pool
            return {c.id: ... http.post(client, url, body, headers, timeout) ... for c in claimed}

        def release(self, app):
            http.release(app)

    # supplychain/outbound/channels.py
    CHANNELS = (WebhookChannel(), EmailChannel(), LogoutChannel())

`send` reads what it needs in its own short transaction (the app gives settings and the
database), never raises for one delivery's trouble (an Outcome says it: `retry=False` for good)
and answers for every delivery it got. What messages call an event and which page they link
lives in `vocabulary.py`, its words in the catalogs (`supplychain.i18n`).
"""
