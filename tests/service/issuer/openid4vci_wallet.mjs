// A wallet built from the OpenWallet Foundation's @openid4vc/openid4vci receives credentials from a running
// civicpass issuer, for tests/service/issuer/test_issuer_openid4vci_interop.py. The library does the protocol
// (offer, metadata, pre-authorized code with tx_code, nonce, openid4vci-proof+jwt proofs, credential request);
// jose signs the proofs it asks for through its signJwt callback. Pinned in package.json.
// stdin:  {"offer", "txCode", "requests": [{"configuration", "proofs"}], "dpop"?: bool, "refresh"?: [requests]}
//         dpop: tokens bound to a DPoP key (RFC 9449); refresh: after the first requests, a refresh_token grant
//         and these requests again, without a new offer.
// stdout: {"offered": [...], "issued": [{"configuration", "format", "credentials": [...], "holderJwks": [private, ...]}]}
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";

import { clientAuthenticationNone, Oauth2Client } from "@openid4vc/oauth2";
import { Openid4vciClient } from "@openid4vc/openid4vci";
import { setGlobalConfig } from "@openid4vc/utils";
import { exportJWK, generateKeyPair, SignJWT } from "jose";

const input = JSON.parse(readFileSync(0, "utf8"));
setGlobalConfig({ allowInsecureUrls: true }); // the test issuer listens on http://127.0.0.1 (a free port)

// One holder key per proof: each copy of a batch is bound to its own key, so copies cannot be linked.
const keys = new Map();
async function newHolderKey() {
  const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  keys.set(publicJwk.x, privateKey);
  return { publicJwk, privateJwk: await exportJWK(privateKey) };
}
const hashName = (alg) => ({ "sha-256": "sha256", "sha-384": "sha384", "sha-512": "sha512" })[alg.toLowerCase()] ?? alg;

const callbacks = {
    hash: (data, alg) => new Uint8Array(createHash(hashName(alg)).update(data).digest()),
    generateRandom: (n) => new Uint8Array(randomBytes(n)),
    clientAuthentication: clientAuthenticationNone({ clientId: "civicpass-interop-wallet" }),
    signJwt: async (signer, { header, payload }) => {
      if (signer.method !== "jwk") throw new Error(`signer ${signer.method} is not used by this wallet`);
      const jwt = await new SignJWT(payload).setProtectedHeader(header).sign(keys.get(signer.publicJwk.x));
      return { jwt, signerJwk: signer.publicJwk };
    },
};
const client = new Openid4vciClient({ callbacks });

const offer = await client.resolveCredentialOffer(input.offer);
const metadata = await client.resolveIssuerMetadata(offer.credential_issuer);
const dpopKey = input.dpop ? await newHolderKey() : undefined;
let dpop = dpopKey ? { signer: { method: "jwk", alg: "ES256", publicJwk: dpopKey.publicJwk } } : undefined;
// Each answer may carry the issuer's next DPoP nonce (RFC 9449 §8.2); the library hands back the nonce alone
// after a resource request, and signer and nonce together after a token request.
const merged = (held, got) => (held && got ? { ...held, ...got } : held);
const first = await client.retrievePreAuthorizedCodeAccessTokenFromOffer({
  credentialOffer: offer,
  issuerMetadata: metadata,
  txCode: input.txCode,
  dpop,
});
let accessTokenResponse = first.accessTokenResponse;
dpop = merged(dpop, first.dpop);

async function receive(requests) {
  const out = [];
  for (const request of requests) out.push(await receiveOne(request));
  return out;
}

async function receiveOne({ configuration, proofs }) {
  // One fresh nonce per request; every proof in a batch carries it (OpenID4VCI 1.0 §8.2).
  const { c_nonce } = await client.requestNonce({ issuerMetadata: metadata });
  const jwts = [];
  const holderJwks = [];
  for (let i = 0; i < proofs; i++) {
    const { publicJwk, privateJwk } = await newHolderKey();
    holderJwks.push(privateJwk);
    const { jwt } = await client.createCredentialRequestJwtProof({
      issuerMetadata: metadata,
      credentialConfigurationId: configuration,
      signer: { method: "jwk", alg: "ES256", publicJwk },
      nonce: c_nonce,
      issuedAt: new Date(),
    });
    jwts.push(jwt);
  }
  const retrieved = await client.retrieveCredentials({
    issuerMetadata: metadata,
    accessToken: accessTokenResponse.access_token,
    credentialConfigurationId: configuration,
    proofs: { jwt: jwts },
    dpop,
  });
  dpop = merged(dpop, retrieved.dpop);
  const { credentialResponse } = retrieved;
  // OpenID4VCI §11: tell the issuer the credentials were accepted, under the id its response gave.
  let notified;
  if (credentialResponse.notification_id) {
    try {
      const sent = await client.sendNotification({
        issuerMetadata: metadata,
        notification: { notificationId: credentialResponse.notification_id, event: "credential_accepted" },
        accessToken: accessTokenResponse.access_token,
        dpop,
      });
      dpop = merged(dpop, sent.dpop);
      notified = sent.response.status;
    } catch (e) {
      // Recorded for the test to judge; the credentials were received either way.
      notified = e.response?.response?.status ?? String(e);
    }
  }
  return {
    configuration,
    format: metadata.credentialIssuer.credential_configurations_supported[configuration].format,
    credentials: credentialResponse.credentials.map((c) => c.credential),
    holderJwks,
    notificationId: credentialResponse.notification_id,
    notified,
  };
}

const issued = await receive(input.requests);
const result = { offered: offer.credential_configuration_ids, tokenType: accessTokenResponse.token_type, issued };
if (input.refresh) {
  // The refresh_token grant goes to the authorization server the offer's token came from.
  const oauth2 = new Oauth2Client({ callbacks });
  const [as] = metadata.authorizationServers;
  const refreshed = await oauth2.retrieveRefreshTokenAccessToken({
    authorizationServerMetadata: as,
    refreshToken: accessTokenResponse.refresh_token,
    dpop,
  });
  accessTokenResponse = refreshed.accessTokenResponse;
  dpop = merged(dpop, refreshed.dpop);
  result.refreshed = await receive(input.refresh);
}
process.stdout.write(JSON.stringify(result));
