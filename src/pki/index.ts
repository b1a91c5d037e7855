// The PKI library the daemon and the CLI use: easy-rsa 3 compatible pki/ directories.
export {
  buildCa,
  DEFAULT_CA_CN,
  DEFAULT_CA_DAYS,
  DEFAULT_CERT_DAYS,
  DEFAULT_CRL_DAYS,
  initPki,
  type BuildCaOptions,
} from './authority.js';
export {
  buildFull,
  genReq,
  importReq,
  signReq,
  type BuildFullOptions,
  type IssuedCertificate,
} from './issue.js';
export { LEAF_PROFILES, parseSan, parseSanList, type LeafProfile, type SanEntry } from './certs.js';
export {
  certificateDetailsView,
  certificateView,
  type CertificateDetailsView,
  type CertificateView,
} from './certificate-view.js';
export { GROUP_URI_PREFIX, groupsFromCertificate, isValidGroupName } from './identity.js';
export { REVOCATION_REASONS, type RevocationReason } from './ca-index-format.js';
export {
  certificateProfile,
  listCertificates,
  loadCaCertificate,
  loadCredentials,
  showCertificate,
  type CertDetails,
  type CertProfile,
  type CertRecord,
  type CertStatus,
  type Inventory,
} from './inventory.js';
export { DEFAULT_KEY_TYPE, KEY_TYPES, parseKeyType, type KeyType } from './keys.js';
export { resolvePassSpec } from './passphrase.js';
export {
  genCrl,
  loadCaCertificatePem,
  loadCrlPem,
  parseReason,
  revoke,
  revokeAndPublish,
  type GeneratedCrl,
  type Published,
  type Revoked,
} from './revocation.js';
export { pkiLayout, type PkiLayout } from './store.js';
export {
  buildLoginCa,
  hasLoginCa,
  issueLoginCertificate,
  LOGIN_BACKDATE_MS,
  LOGIN_CA_NAME,
  loginCaDir,
  loginCommonName,
  loginNonce,
  type BuildLoginCaOptions,
  type BuiltLoginCa,
  type LoginCertificate,
  type LoginCertificateRequest,
} from './login-ca.js';
export { renew, DEFAULT_RENEW_DAYS, type Renewed } from './renew.js';
export { exportP12, exportP7 } from './pkcs-export.js';
export { certificateText, crlText, requestText } from './show-text.js';
export { updateDb } from './update-db.js';
export { resolveEasyRsaSettings, type EasyRsaSettings } from './easyrsa-vars.js';
