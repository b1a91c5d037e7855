// pki/openssl-easyrsa.cnf: the OpenSSL configuration easy-rsa 3.1 runs `openssl ca`/`openssl req`
// with. easy-rsa 3.1 copies its own into the PKI at init-pki and stops with an error when it is
// missing, so a Gatehouse PKI carries one for easy-rsa to use. It names the same files Gatehouse
// writes, easy-rsa's section names (cn_only, org, basic_exts, easyrsa_ca, crl_ext) and the two
// marker lines easy-rsa edits in. Gatehouse itself never reads it; an existing file is left alone.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PUBLIC_FILE_MODE, writeFileAtomic } from './store.js';

export const OPENSSL_EASYRSA_CNF = `# OpenSSL configuration for easy-rsa 3, written by \`gatehouse pki init-pki\`.
# easy-rsa reads it; Gatehouse does not. The $ENV:: values come from easy-rsa's vars.

[ ca ]
default_ca = CA_default

[ CA_default ]
dir = $ENV::EASYRSA_PKI
certs = $dir
crl_dir = $dir
database = $dir/index.txt
new_certs_dir = $dir/certs_by_serial
certificate = $dir/ca.crt
serial = $dir/serial
crl = $dir/crl.pem
private_key = $dir/private/ca.key
RANDFILE = $dir/.rand
x509_extensions = basic_exts
#%COPY_EXTS%	easy-rsa --copy-ext inserts copy_extensions here; keep this line
crl_extensions = crl_ext
default_days = $ENV::EASYRSA_CERT_EXPIRE
default_crl_days = $ENV::EASYRSA_CRL_DAYS
default_md = $ENV::EASYRSA_DIGEST
preserve = no
unique_subject = no
policy = policy_anything

[ policy_anything ]
countryName = optional
stateOrProvinceName = optional
localityName = optional
organizationName = optional
organizationalUnitName = optional
commonName = supplied
name = optional
emailAddress = optional

[ req ]
default_bits = $ENV::EASYRSA_KEY_SIZE
default_keyfile = privkey.pem
default_md = $ENV::EASYRSA_DIGEST
distinguished_name = $ENV::EASYRSA_DN
x509_extensions = easyrsa_ca

[ cn_only ]
commonName = Common Name (eg: your user, host, or server name)
commonName_max = 64
commonName_default = $ENV::EASYRSA_REQ_CN

[ org ]
countryName = Country Name (2 letter code)
countryName_default = $ENV::EASYRSA_REQ_COUNTRY
countryName_min = 2
countryName_max = 2
stateOrProvinceName = State or Province Name (full name)
stateOrProvinceName_default = $ENV::EASYRSA_REQ_PROVINCE
localityName = Locality Name (eg, city)
localityName_default = $ENV::EASYRSA_REQ_CITY
0.organizationName = Organization Name (eg, company)
0.organizationName_default = $ENV::EASYRSA_REQ_ORG
organizationalUnitName = Organizational Unit Name (eg, section)
organizationalUnitName_default = $ENV::EASYRSA_REQ_OU
commonName = Common Name (eg: your user, host, or server name)
commonName_max = 64
commonName_default = $ENV::EASYRSA_REQ_CN
emailAddress = Email Address
emailAddress_default = $ENV::EASYRSA_REQ_EMAIL
emailAddress_max = 64

[ basic_exts ]
basicConstraints = CA:FALSE
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer:always

[ easyrsa_ca ]
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always,issuer:always
basicConstraints = CA:true
keyUsage = cRLSign, keyCertSign
#%CA_X509_TYPES_EXTRA_EXTS%	easy-rsa build-ca inserts x509-types/ca here; keep this line

[ crl_ext ]
authorityKeyIdentifier = keyid:always,issuer:always
`;

export function ensureOpensslCnf(root: string): void {
  const p = path.join(root, 'openssl-easyrsa.cnf');
  if (!fs.existsSync(p)) writeFileAtomic(p, OPENSSL_EASYRSA_CNF, PUBLIC_FILE_MODE);
}
