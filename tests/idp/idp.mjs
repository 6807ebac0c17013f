// A real OpenID Connect provider (panva's oidc-provider) standing in for a company IdP in the
// SSO tests. Usage: node idp.mjs CONFIG.json; prints one JSON line {"issuer": ...} once it
// listens on 127.0.0.1 (a free port). CONFIG: {"clients": [...], "accounts_file": path}.
// The development login form takes any login; the login is the account's `sub`, and its claims
// are {email: login, email_verified: true, name} overridden by accounts_file[login] (read on
// every lookup, so a test can change them while the provider runs).
// CONFIG.requests_file: every authorization request it receives is appended there (one JSON
// line of its query), so a test can assert on what the IdP was asked.
// CONFIG.behaviour_file (read on every request): {"reuse_session": "silent" | "honest"} makes it
// an IdP that ignores `prompt` and `max_age` and reuses its session ("silent": it says no
// auth_time; "honest": it says its session's); {"session_age": N} reports every session's
// auth_time N seconds earlier than the login (a session made long ago).
import fs from 'node:fs';
import http from 'node:http';

import Provider from 'oidc-provider';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));

function behaviour() {
  try {
    return JSON.parse(fs.readFileSync(config.behaviour_file, 'utf8'));
  } catch {
    return {};
  }
}

function overridesFor(login) {
  try {
    return JSON.parse(fs.readFileSync(config.accounts_file, 'utf8'))[login] || {};
  } catch {
    return {};
  }
}

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: config.clients,
    cookies: { keys: ['supplychain-test-idp-cookie-key'] },
    claims: { openid: ['sub', 'sid'], email: ['email', 'email_verified'], profile: ['name'] },
    features: {
      devInteractions: { enabled: true },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: { enabled: true },
    },
    pkce: { required: () => true },
    // oidc-provider refuses to send to special-use addresses; the app under test is on loopback.
    fetch(url, options) {
      const { dispatcher, ...rest } = options;
      return globalThis.fetch(url, rest);
    },
    async findAccount(ctx, id) {
      return {
        accountId: id,
        async claims() {
          return {
            sub: id,
            email: id,
            email_verified: true,
            name: `Person ${id}`,
            ...overridesFor(id),
          };
        },
      };
    },
    // The company's own IdP has no consent screen for its own apps: a grant is given at once.
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) {
        return ctx.oidc.provider.Grant.find(grantId);
      }
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid email profile');
      await grant.save();
      return grant;
    },
  });
  provider.on('backchannel.error', (ctx, err) => {
    process.stderr.write(`backchannel.error: ${err.message} ${err.cause ? err.cause.message || err.cause : ""}\n`);
  });
  const { authTime } = provider.Session.prototype;
  provider.Session.prototype.authTime = function shiftedAuthTime() {
    const at = authTime.call(this);
    return at === undefined ? at : at - (behaviour().session_age || 0);
  };
  provider.use(async (ctx, next) => {
    if (ctx.method === 'GET' && ctx.path === '/auth') {
      fs.appendFileSync(config.requests_file, `${JSON.stringify(ctx.query)}\n`);
      const reuse = behaviour().reuse_session;
      if (reuse) {
        const params = new URLSearchParams(ctx.querystring);
        params.delete('prompt');
        params.delete('max_age');
        if (reuse === 'honest') {
          params.set('max_age', '31536000'); // any session will do, and its auth_time is said
        }
        ctx.querystring = params.toString();
      }
    }
    await next();
  });
  server.on('request', provider.callback());
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});
