// A third-party OAuth2 server (oauth2-mock-server, from npm) plus a small resource server that
// validates its JWTs against the server's JWKS with `jose`, both on 127.0.0.1 ephemeral ports.
// tokenstorm's integration test (tests/integration/thirdparty.rs) starts this script, reads the
// JSON line it prints, runs a profile against both, then asks GET /stats for what really happened.
//
// Usage: node servers.mjs TOKEN_TTL_SECONDS
import http from 'node:http';
import { OAuth2Server } from 'oauth2-mock-server';
import { createRemoteJWKSet, jwtVerify, errors } from 'jose';

const ttl = Number(process.argv[2] ?? '3');
const stats = { token: {}, api: { ok: 0, unauthorized: 0, missing: 0 } };
const bump = (table, key) => { table[key] = (table[key] ?? 0) + 1; };

const oauth = new OAuth2Server();
await oauth.issuer.keys.generate('RS256');
// The server's default lifetime is an hour; these two hooks are its documented way to change it.
oauth.service.on('beforeTokenSigning', (token) => {
  token.payload.exp = token.payload.iat + ttl;
});
oauth.service.on('beforeResponse', (response, req) => {
  response.body.expires_in = ttl;
  bump(stats.token, `${req.body.grant_type}:${response.statusCode}`);
});
await oauth.start(0, '127.0.0.1');
// Its default issuer URL says localhost, which may resolve to ::1 where nothing listens.
oauth.issuer.url = `http://127.0.0.1:${oauth.address().port}`;
const issuer = oauth.issuer.url;
const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`));

// RFC 6750 resource server: 401 + WWW-Authenticate with invalid_token for a bad or expired token.
const api = http.createServer(async (req, res) => {
  if (req.url === '/stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(stats));
    return;
  }
  const auth = req.headers.authorization ?? '';
  if (!auth.startsWith('Bearer ')) {
    bump(stats.api, 'missing');
    res.writeHead(401, { 'www-authenticate': 'Bearer realm="thirdparty"' });
    res.end();
    return;
  }
  try {
    await jwtVerify(auth.slice(7), jwks, { issuer, clockTolerance: 0 });
  } catch (e) {
    bump(stats.api, 'unauthorized');
    const why = e instanceof errors.JWTExpired ? 'token expired' : 'token invalid';
    res.writeHead(401, {
      'www-authenticate': `Bearer realm="thirdparty", error="invalid_token", error_description="${why}"`,
      'content-type': 'application/json',
    });
    res.end(JSON.stringify({ error: 'invalid_token', error_description: why }));
    return;
  }
  bump(stats.api, 'ok');
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ entities: [], total: 0, path: req.url }));
});
await new Promise((resolve) => api.listen(0, '127.0.0.1', resolve));

console.log(JSON.stringify({ issuer, api: `http://127.0.0.1:${api.address().port}` }));
const stop = async () => { api.close(); await oauth.stop(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// The test holds our stdin; when it goes away (test ended or crashed), so do we.
process.stdin.on('end', stop);
process.stdin.resume();
