// Upstream TLS: one client context per https service, built with the
// config snapshot from the service's tls_verify, tls_verify_depth,
// ca_certificates and client_certificate, shared by all workers.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace wg::tls {

struct ClientOptions {
  bool verify = false;           // Kong's default: upstream certificates are not verified
  int verify_depth = -1;         // -1: OpenSSL's default
  std::vector<std::string> cas;  // PEM; none: the system's trust store
  std::string cert, key;         // client certificate (mTLS), PEM; empty: none
};

class ClientTls {
 public:
  // nullptr with *err when a PEM does not load.
  static std::shared_ptr<const ClientTls> create(const ClientOptions& o, std::string* err);
  ~ClientTls();
  ClientTls(const ClientTls&) = delete;
  ClientTls& operator=(const ClientTls&) = delete;
  // A client-side SSL sending server_name as SNI (when it is a name, not an
  // address) and, when verifying, checking the certificate against it.
  SSL* connect(std::string_view server_name) const;
  bool verify() const { return verify_; }

 private:
  ClientTls() = default;
  SSL_CTX* ctx_ = nullptr;
  bool verify_ = false;
};

}  // namespace wg::tls
