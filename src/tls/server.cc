#include "tls/server.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <openssl/core_names.h>
#include <openssl/params.h>
#include <time.h>

#include <atomic>
#include <cstring>

namespace wg::tls {
namespace {

// Kong's ssl_cipher_suite "intermediate" (kong/conf_loader/constants.lua):
// TLS 1.2 and 1.3, these TLS 1.2 ciphers (TLS 1.3's are OpenSSL's default),
// the client's preference order.
constexpr const char* kIntermediateCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305";

// A session id context: resumption is only offered within one gateway.
constexpr unsigned char kSessionContext[] = "wasmgate";

std::string last_error(const char* what) {
  unsigned long e = ERR_peek_last_error();
  const char* r = e != 0 ? ERR_reason_error_string(e) : nullptr;
  ERR_clear_error();
  return std::string(what) + (r != nullptr ? std::string(": ") + r : std::string());
}

// Session ticket keys, one ring for the process (so any worker opens any
// worker's tickets): tickets are sealed with the current key, which is
// replaced every kTicketKeyLifetimeS; the one before still opens tickets
// (renewed on use) for another lifetime. A reader that loaded `current`
// uses that slot and the one before; rotation writes the third. Rotation
// happens in a handshake's callback, when due, by whichever thread sees
// it first.
constexpr int64_t kTicketKeyLifetimeS = 12 * 3600;

struct TicketKey {
  unsigned char name[16];
  unsigned char aes[32];
  unsigned char hmac[32];
};

class TicketKeys {
 public:
  TicketKeys() {
    fill(keys_[0]);
    next_rotation_.store(now_s() + kTicketKeyLifetimeS);
  }
  int seal(unsigned char name[16], unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac) {
    rotate_if_due();
    const TicketKey& k = keys_[current_.load(std::memory_order_acquire)];
    std::memcpy(name, k.name, sizeof k.name);
    if (RAND_bytes(iv, 16) != 1) return -1;
    if (EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, k.aes, iv) != 1) return -1;
    return init_mac(mac, k) ? 1 : -1;
  }
  // 1: opened with the current key, 2: with the previous (renew the ticket), 0: unknown key.
  int open(const unsigned char name[16], const unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac) const {
    const uint32_t cur = current_.load(std::memory_order_acquire);
    const uint32_t slots[2] = {cur, (cur + 2) % 3};
    for (int i = 0; i < 2; ++i) {
      const TicketKey& k = keys_[slots[i]];
      if (std::memcmp(name, k.name, sizeof k.name) != 0) continue;
      if (EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, k.aes, iv) != 1 || !init_mac(mac, k)) return -1;
      return i == 0 ? 1 : 2;
    }
    return 0;
  }

 private:
  static int64_t now_s() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return ts.tv_sec;
  }
  static void fill(TicketKey& k) {
    RAND_bytes(k.name, sizeof k.name);
    RAND_bytes(k.aes, sizeof k.aes);
    RAND_bytes(k.hmac, sizeof k.hmac);
  }
  static bool init_mac(EVP_MAC_CTX* mac, const TicketKey& k) {
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(k.hmac), sizeof k.hmac),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("sha256"), 0),
        OSSL_PARAM_construct_end()};
    return EVP_MAC_CTX_set_params(mac, params) == 1;
  }
  void rotate_if_due() {
    const int64_t now = now_s();
    if (now < next_rotation_.load(std::memory_order_relaxed)) return;
    if (rotating_.test_and_set()) return;
    if (now >= next_rotation_.load(std::memory_order_relaxed)) {
      const uint32_t next = (current_.load(std::memory_order_relaxed) + 1) % 3;
      fill(keys_[next]);
      current_.store(next, std::memory_order_release);
      next_rotation_.store(now + kTicketKeyLifetimeS, std::memory_order_relaxed);
    }
    rotating_.clear();
  }

  TicketKey keys_[3] = {};
  std::atomic<uint32_t> current_{0};
  std::atomic<int64_t> next_rotation_{0};
  std::atomic_flag rotating_;
};

TicketKeys& ticket_keys() {
  static TicketKeys keys;
  return keys;
}

int on_ticket_key(SSL*, unsigned char name[16], unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac,
                  int seal) {
  return seal ? ticket_keys().seal(name, iv, cipher, mac) : ticket_keys().open(name, iv, cipher, mac);
}

// ALPN: HTTP/1.1 only for now (h2 comes with HTTP/2). A client that offers
// no protocol we speak goes on without ALPN, as nginx does.
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
                void*) {
  static const unsigned char kOurs[] = "\x08http/1.1";
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kOurs, sizeof kOurs - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

// Picks the certificate for the server name before anything is decided on
// the connection's context: the context of the matching certificates entity.
int on_client_hello(SSL* ssl, int*, void*) {
  const auto* certs = static_cast<const CertStore*>(SSL_get_app_data(ssl));
  if (certs == nullptr) return SSL_CLIENT_HELLO_SUCCESS;
  const unsigned char* ext = nullptr;
  size_t len = 0;
  std::string_view host;
  // No (or no valid) server name: the default certificate, as in Kong.
  if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &len)) return SSL_CLIENT_HELLO_SUCCESS;
  if (!parse_server_name(ext, len, &host)) return SSL_CLIENT_HELLO_SUCCESS;
  if (SSL_CTX* ctx = certs->for_server_name(host)) SSL_set_SSL_CTX(ssl, ctx);
  return SSL_CLIENT_HELLO_SUCCESS;
}

// A PEM chain's first certificate goes first, the rest are its chain.
bool use_pair(SSL_CTX* ctx, const std::string& cert, const std::string& key, std::string* err) {
  BIO* b = BIO_new_mem_buf(cert.data(), static_cast<int>(cert.size()));
  X509* leaf = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
  if (leaf == nullptr) {
    BIO_free(b);
    *err = last_error("invalid certificate");
    return false;
  }
  bool ok = SSL_CTX_use_certificate(ctx, leaf) == 1;
  X509_free(leaf);
  while (ok) {
    X509* extra = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
    if (extra == nullptr) break;
    if (SSL_CTX_add1_chain_cert(ctx, extra) != 1) ok = false;
    X509_free(extra);
  }
  BIO_free(b);
  ERR_clear_error();  // the end of the chain reads as an error
  if (!ok) {
    *err = last_error("invalid certificate");
    return false;
  }
  b = BIO_new_mem_buf(key.data(), static_cast<int>(key.size()));
  EVP_PKEY* pkey = PEM_read_bio_PrivateKey(b, nullptr, nullptr, nullptr);
  BIO_free(b);
  if (pkey == nullptr) {
    *err = last_error("invalid key");
    return false;
  }
  ok = SSL_CTX_use_PrivateKey(ctx, pkey) == 1 && SSL_CTX_check_private_key(ctx) == 1;
  EVP_PKEY_free(pkey);
  if (!ok) *err = last_error("certificate does not match key");
  return ok;
}

SSL_CTX* new_server_context() {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx != nullptr && !configure_server_context(ctx)) {
    SSL_CTX_free(ctx);
    return nullptr;
  }
  return ctx;
}

// A self-signed certificate for CN=localhost with key k, valid ten years.
X509* self_signed(EVP_PKEY* k) {
  X509* x = X509_new();
  X509_set_version(x, 2);
  unsigned char serial[4] = {0};
  RAND_bytes(serial, sizeof serial);
  ASN1_INTEGER_set(X509_get_serialNumber(x), static_cast<long>(serial[0] & 0x7f) << 24 | serial[1] << 16 |
                                                 serial[2] << 8 | serial[3]);
  X509_gmtime_adj(X509_getm_notBefore(x), 0);
  X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 24 * 3600);
  X509_set_pubkey(x, k);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("wasmgate"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"), -1, -1,
                             0);
  X509_set_issuer_name(x, name);
  if (X509_sign(x, k, EVP_sha256()) == 0) {
    X509_free(x);
    return nullptr;
  }
  return x;
}

bool use_generated(SSL_CTX* ctx, EVP_PKEY* k, std::string* err) {
  if (k == nullptr) {
    *err = last_error("cannot generate a key");
    return false;
  }
  X509* x = self_signed(k);
  bool ok = x != nullptr && SSL_CTX_use_certificate(ctx, x) == 1 && SSL_CTX_use_PrivateKey(ctx, k) == 1;
  X509_free(x);
  EVP_PKEY_free(k);
  if (!ok) *err = last_error("cannot make the self-signed certificate");
  return ok;
}

std::string read_file(const std::string& path, bool* ok) {
  std::string out;
  FILE* f = std::fopen(path.c_str(), "rb");
  *ok = f != nullptr;
  if (f == nullptr) return out;
  char buf[8192];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  std::fclose(f);
  return out;
}

}  // namespace

bool configure_server_context(SSL_CTX* ctx) {
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  if (SSL_CTX_set_cipher_list(ctx, kIntermediateCiphers) != 1) return false;
  SSL_CTX_set_dh_auto(ctx, 1);
  // No renegotiation (a client-driven CPU cost), no compression.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  // Stateless resumption only (tickets): no session cache to lock.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);
  SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, on_ticket_key);
  SSL_CTX_set_read_ahead(ctx, 0);
  return true;
}

std::string_view server_name(SSL* ssl) {
  const char* n = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  return n != nullptr ? std::string_view(n) : std::string_view();
}

CertStore::~CertStore() {
  for (SSL_CTX* c : contexts_) SSL_CTX_free(c);
}

bool CertStore::add(const std::string& cert, const std::string& key, const std::string& cert_alt,
                    const std::string& key_alt, std::string* err) {
  SSL_CTX* ctx = new_server_context();
  if (ctx == nullptr) {
    *err = last_error("cannot make a TLS context");
    return false;
  }
  if (!use_pair(ctx, cert, key, err) || (!cert_alt.empty() && !use_pair(ctx, cert_alt, key_alt, err))) {
    SSL_CTX_free(ctx);
    return false;
  }
  contexts_.push_back(ctx);
  return true;
}

std::unique_ptr<ServerTls> ServerTls::create(const std::string& cert_file, const std::string& key_file,
                                             std::string* err) {
  std::unique_ptr<ServerTls> t(new ServerTls());
  t->ctx_ = new_server_context();
  if (t->ctx_ == nullptr) {
    *err = last_error("cannot make a TLS context");
    return nullptr;
  }
  SSL_CTX_set_client_hello_cb(t->ctx_, on_client_hello, nullptr);
  if (!cert_file.empty()) {
    bool ok_cert = false, ok_key = false;
    std::string cert = read_file(cert_file, &ok_cert);
    std::string key = read_file(key_file, &ok_key);
    if (!ok_cert || !ok_key) {
      *err = "cannot read " + (!ok_cert ? cert_file : key_file);
      return nullptr;
    }
    if (!use_pair(t->ctx_, cert, key, err)) return nullptr;
    return t;
  }
  if (!use_generated(t->ctx_, EVP_RSA_gen(2048), err)) return nullptr;
  if (!use_generated(t->ctx_, EVP_EC_gen("P-256"), err)) return nullptr;
  return t;
}

ServerTls::~ServerTls() { SSL_CTX_free(ctx_); }

SSL* ServerTls::accept(const CertStore* certs) const {
  SSL* ssl = SSL_new(ctx_);
  if (ssl == nullptr) return nullptr;
  SSL_set_app_data(ssl, const_cast<CertStore*>(certs));
  SSL_set_accept_state(ssl);
  return ssl;
}

}  // namespace wg::tls

namespace wg::tls {

std::string check_pair(const std::string& cert, const std::string& key) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  std::string err;
  if (ctx == nullptr) return "cannot make a TLS context";
  use_pair(ctx, cert, key, &err);
  SSL_CTX_free(ctx);
  return err;
}

bool valid_certificate(const std::string& pem) {
  BIO* b = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* x = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
  BIO_free(b);
  ERR_clear_error();
  X509_free(x);
  return x != nullptr;
}

}  // namespace wg::tls
