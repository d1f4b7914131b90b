// TLS termination: the process-wide server context (Kong's "intermediate"
// protocols and ciphers, ALPN, session tickets, the default certificate)
// and the certificates of one configuration, picked by server name in the
// ClientHello callback.
//
// Every context is immutable once built and shared by all workers: a
// worker only creates one SSL object per accepted connection. Session
// tickets are sealed with the default context's key, which the switch to
// a certificate's context keeps (the SSL's session context does not
// change), so a ticket from one worker resumes on any other.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tls/sni.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace wg::tls {

// The certificates entities of one configuration. Built with the config
// snapshot, read by the ClientHello callbacks of every worker.
class CertStore {
 public:
  CertStore() = default;
  CertStore(const CertStore&) = delete;
  CertStore& operator=(const CertStore&) = delete;
  ~CertStore();
  // One certificates entity (PEM): its pair and, when given, the alternate
  // pair (Kong's RSA + ECDSA on one entity). Index = order of addition.
  // False with *err when the PEM or the pairing is invalid.
  bool add(const std::string& cert, const std::string& key, const std::string& cert_alt, const std::string& key_alt,
           std::string* err);
  SniTable& snis() { return snis_; }
  // The context for a server name, or nullptr for the default certificate.
  SSL_CTX* for_server_name(std::string_view name) const {
    const int i = snis_.find(name);
    return i < 0 ? nullptr : contexts_[static_cast<size_t>(i)];
  }

 private:
  std::vector<SSL_CTX*> contexts_;
  SniTable snis_;
};

class ServerTls {
 public:
  // With the default certificate from files (PEM), or, both empty, from a
  // self-signed RSA and ECDSA pair made now (as Kong does when no
  // ssl_cert is configured). nullptr with *err on failure.
  static std::unique_ptr<ServerTls> create(const std::string& cert_file, const std::string& key_file,
                                           std::string* err);
  ~ServerTls();
  // A server-side SSL for an accepted socket; certs are the running
  // configuration's certificates (may be null), which must outlive the
  // handshake.
  SSL* accept(const CertStore* certs) const;

 private:
  ServerTls() = default;
  SSL_CTX* ctx_ = nullptr;
};

// Protocols, ciphers, ALPN and options of every server context.
bool configure_server_context(SSL_CTX* ctx);

// The server name the handshake asked for ("" when none).
std::string_view server_name(SSL* ssl);

}  // namespace wg::tls

namespace wg::tls {
// Why a PEM certificate (chain) and key cannot be served together ("" when
// they can): what the certificates entity's validation reports.
std::string check_pair(const std::string& cert, const std::string& key);
// Whether text holds at least one PEM certificate.
bool valid_certificate(const std::string& pem);
}  // namespace wg::tls
