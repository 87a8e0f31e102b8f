#include "net/tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace vigil::net {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

std::string Where(const char* field, const std::string& file) {
  return absl::StrCat("tls_config ", field, " \"", file, "\"");
}

// The oldest entry of OpenSSL's error queue, which is then cleared.
std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

absl::StatusOr<std::string> ReadPem(const char* field,
                                    const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    int err = errno;
    std::string what =
        absl::StrCat(Where(field, file), ": cannot read: ", std::strerror(err));
    if (err == ENOENT) return absl::NotFoundError(what);
    return absl::InvalidArgumentError(what);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(field, file), ": read error"));
  }
  return ss.str();
}

absl::StatusOr<std::vector<X509Ptr>> LoadCerts(const char* field,
                                               const std::string& file) {
  absl::StatusOr<std::string> pem = ReadPem(field, file);
  if (!pem.ok()) return pem.status();
  std::unique_ptr<BIO, BioFree> bio(
      BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
  std::vector<X509Ptr> certs;
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    certs.emplace_back(x);
  }
  ERR_clear_error();  // the loop ends on a "no start line" error
  if (certs.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(field, file), ": no PEM certificate found"));
  }
  return certs;
}

absl::Status Configure(const TlsOptions& tls, SSL_CTX* ctx,
                       bool load_system_roots) {
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return absl::InvalidArgumentError(
        tls.cert_file.empty() ? absl::StrCat(Where("key_file", tls.key_file),
                                             ": specified without cert_file")
                              : absl::StrCat(Where("cert_file", tls.cert_file),
                                             ": specified without key_file"));
  }
  int min = TLS1_2_VERSION;
  if (tls.min_version == "TLS10") {
    min = TLS1_VERSION;
  } else if (tls.min_version == "TLS11") {
    min = TLS1_1_VERSION;
  } else if (tls.min_version == "TLS13") {
    min = TLS1_3_VERSION;
  } else if (!tls.min_version.empty() && tls.min_version != "TLS12") {
    return absl::InvalidArgumentError(absl::StrCat(
        "tls_config min_version: unknown TLS version \"", tls.min_version,
        "\" (want TLS10, TLS11, TLS12 or TLS13)"));
  }
  SSL_CTX_set_min_proto_version(ctx, min);

  if (!tls.ca_file.empty()) {
    absl::StatusOr<std::vector<X509Ptr>> cas =
        LoadCerts("ca_file", tls.ca_file);
    if (!cas.ok()) return cas.status();
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    for (const X509Ptr& c : *cas) {
      if (X509_STORE_add_cert(store, c.get()) != 1) {
        // A duplicate certificate in the file is harmless.
        unsigned long e = ERR_peek_last_error();
        if (ERR_GET_REASON(e) != X509_R_CERT_ALREADY_IN_HASH_TABLE) {
          return absl::InvalidArgumentError(absl::StrCat(
              Where("ca_file", tls.ca_file), ": ", OpenSslError()));
        }
        ERR_clear_error();
      }
    }
  } else if (load_system_roots && SSL_CTX_set_default_verify_paths(ctx) != 1) {
    return absl::InternalError(
        absl::StrCat("loading the system trust store: ", OpenSslError()));
  }

  if (!tls.cert_file.empty()) {
    absl::StatusOr<std::vector<X509Ptr>> chain =
        LoadCerts("cert_file", tls.cert_file);
    if (!chain.ok()) return chain.status();
    if (SSL_CTX_use_certificate(ctx, (*chain)[0].get()) != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          Where("cert_file", tls.cert_file), ": ", OpenSslError()));
    }
    for (size_t i = 1; i < chain->size(); ++i) {
      // add0 takes ownership on success.
      if (SSL_CTX_add0_chain_cert(ctx, (*chain)[i].get()) != 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            Where("cert_file", tls.cert_file), ": ", OpenSslError()));
      }
      (void)(*chain)[i].release();
    }
    absl::StatusOr<std::string> pem = ReadPem("key_file", tls.key_file);
    if (!pem.ok()) return pem.status();
    std::unique_ptr<BIO, BioFree> bio(
        BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
    std::unique_ptr<EVP_PKEY, PkeyFree> key(
        PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    if (key == nullptr) {
      ERR_clear_error();
      return absl::InvalidArgumentError(absl::StrCat(
          Where("key_file", tls.key_file),
          ": no PEM private key found (encrypted keys are not supported)"));
    }
    if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
      ERR_clear_error();
      return absl::InvalidArgumentError(absl::StrCat(
          Where("key_file", tls.key_file),
          ": private key does not match cert_file \"", tls.cert_file, "\""));
    }
  }
  SSL_CTX_set_verify(
      ctx, tls.insecure_skip_verify ? SSL_VERIFY_NONE : SSL_VERIFY_PEER,
      nullptr);
  return absl::OkStatus();
}

}  // namespace

bool TlsOptions::operator==(const TlsOptions& o) const {
  return ca_file == o.ca_file && cert_file == o.cert_file &&
         key_file == o.key_file && server_name == o.server_name &&
         insecure_skip_verify == o.insecure_skip_verify &&
         min_version == o.min_version;
}

absl::Status ConfigureClientTls(const TlsOptions& tls, ssl_ctx_st* ctx,
                                bool load_system_roots) {
  absl::Status s = Configure(tls, ctx, load_system_roots);
  ERR_clear_error();
  return s;
}

absl::Status ValidateTlsOptions(const TlsOptions& tls) {
  std::unique_ptr<SSL_CTX, CtxFree> ctx(SSL_CTX_new(TLS_client_method()));
  if (ctx == nullptr) {
    return absl::InternalError(
        absl::StrCat("creating a TLS context: ", OpenSslError()));
  }
  return ConfigureClientTls(tls, ctx.get(), /*load_system_roots=*/false);
}

}  // namespace vigil::net
