#include "tls/client.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tls/server.h"

namespace wg::tls {
namespace {

std::string reason(const char* what) {
  unsigned long e = ERR_peek_last_error();
  const char* r = e != 0 ? ERR_reason_error_string(e) : nullptr;
  ERR_clear_error();
  return std::string(what) + (r != nullptr ? std::string(": ") + r : std::string());
}

bool add_cas(SSL_CTX* ctx, const std::vector<std::string>& cas, std::string* err) {
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  for (const std::string& pem : cas) {
    BIO* b = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    X509* x = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
    BIO_free(b);
    if (x == nullptr || X509_STORE_add_cert(store, x) != 1) {
      X509_free(x);
      *err = reason("invalid CA certificate");
      return false;
    }
    X509_free(x);
  }
  return true;
}

bool use_client_pair(SSL_CTX* ctx, const std::string& cert, const std::string& key, std::string* err) {
  BIO* b = BIO_new_mem_buf(cert.data(), static_cast<int>(cert.size()));
  X509* x = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
  BIO_free(b);
  b = BIO_new_mem_buf(key.data(), static_cast<int>(key.size()));
  EVP_PKEY* k = PEM_read_bio_PrivateKey(b, nullptr, nullptr, nullptr);
  BIO_free(b);
  const bool ok = x != nullptr && k != nullptr && SSL_CTX_use_certificate(ctx, x) == 1 &&
                  SSL_CTX_use_PrivateKey(ctx, k) == 1 && SSL_CTX_check_private_key(ctx) == 1;
  X509_free(x);
  EVP_PKEY_free(k);
  if (!ok) *err = reason("invalid client certificate");
  return ok;
}

bool is_address(std::string_view host) {
  std::string h(host);
  unsigned char buf[16];
  return inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

}  // namespace

std::shared_ptr<const ClientTls> ClientTls::create(const ClientOptions& o, std::string* err) {
  std::shared_ptr<ClientTls> t(new ClientTls());
  t->ctx_ = SSL_CTX_new(TLS_client_method());
  if (t->ctx_ == nullptr) {
    *err = reason("cannot make a TLS context");
    return nullptr;
  }
  t->verify_ = o.verify;
  SSL_CTX_set_min_proto_version(t->ctx_, TLS1_2_VERSION);
  SSL_CTX_set_options(t->ctx_, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  if (o.verify) {
    SSL_CTX_set_verify(t->ctx_, SSL_VERIFY_PEER, nullptr);
    if (o.verify_depth >= 0) SSL_CTX_set_verify_depth(t->ctx_, o.verify_depth);
    if (o.cas.empty()) {
      SSL_CTX_set_default_verify_paths(t->ctx_);
    } else if (!add_cas(t->ctx_, o.cas, err)) {
      return nullptr;
    }
  }
  if (!o.cert.empty() && !use_client_pair(t->ctx_, o.cert, o.key, err)) return nullptr;
  return t;
}

ClientTls::~ClientTls() { SSL_CTX_free(ctx_); }

SSL* ClientTls::connect(std::string_view server_name) const {
  SSL* ssl = SSL_new(ctx_);
  if (ssl == nullptr) return nullptr;
  SSL_set_connect_state(ssl);
  if (!server_name.empty() && server_name.size() <= kMaxServerName) {
    std::string name(server_name);
    const bool address = is_address(name);
    if (!address) SSL_set_tlsext_host_name(ssl, name.c_str());
    if (verify_) {
      if (address) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str());
      } else {
        SSL_set1_host(ssl, name.c_str());
      }
    }
  }
  return ssl;
}

}  // namespace wg::tls
