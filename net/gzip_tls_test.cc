// GunzipLimited and ValidateTlsOptions (no network).
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "net/gzip.h"
#include "net/internal/test_server.h"
#include "net/tls.h"

namespace vigil::net {
namespace {

using ::testing::HasSubstr;

TEST(GunzipTest, CorruptTruncatedAndLimits) {
  std::string gz = testing::Gzip("hello world hello world");
  std::string out;
  ASSERT_TRUE(GunzipLimited(gz, 0, &out).ok());
  EXPECT_EQ(out, "hello world hello world");
  EXPECT_EQ(GunzipLimited(gz.substr(0, gz.size() / 2), 0, &out).code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(GunzipLimited("not gzip at all", 0, &out).code(),
            absl::StatusCode::kDataLoss);
  EXPECT_TRUE(out.empty());
  // Exactly at the limit is fine; one byte over is not.
  EXPECT_TRUE(GunzipLimited(gz, 23, &out).ok());
  EXPECT_EQ(GunzipLimited(gz, 22, &out).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(GunzipLimited(testing::Gzip(""), 1, &out).ok());
  EXPECT_EQ(out, "");
}

TEST(GunzipTest, BombStopsAtLimit) {
  std::string bomb = testing::Gzip(std::string(64 << 20, '\0'));
  ASSERT_LT(bomb.size(), 1u << 20);
  std::string out;
  absl::Status s = GunzipLimited(bomb, 1 << 20, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("decompressed"));
  EXPECT_LT(out.capacity(), 4u << 20);
}

class TlsValidateTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<testing::TestCerts> c =
        testing::GenerateTestCerts(testing::TestTmpDir());
    if (c.ok()) certs_ = new testing::TestCerts(*c);
  }
  void SetUp() override {
    if (certs_ == nullptr) GTEST_SKIP() << "openssl CLI not available";
  }
  static testing::TestCerts* certs_;
};
testing::TestCerts* TlsValidateTest::certs_ = nullptr;

TEST_F(TlsValidateTest, GoodFiles) {
  TlsOptions t;
  EXPECT_TRUE(ValidateTlsOptions(t).ok());
  t.ca_file = certs_->ca_cert;
  t.cert_file = certs_->client_cert;
  t.key_file = certs_->client_key;
  t.min_version = "TLS13";
  EXPECT_TRUE(ValidateTlsOptions(t).ok()) << ValidateTlsOptions(t);
}

TEST_F(TlsValidateTest, ErrorsNameFieldAndFile) {
  TlsOptions t;
  t.ca_file = "/nonexistent/ca.pem";
  absl::Status s = ValidateTlsOptions(t);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("tls_config ca_file \"/nonexistent/ca.pem\""));

  // A key is not a certificate.
  t.ca_file = certs_->client_key;
  s = ValidateTlsOptions(t);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("ca_file"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("no PEM certificate"));

  std::string garbage = testing::TestTmpDir() + "/garbage.pem";
  std::ofstream(garbage) << "-----BEGIN CERTIFICATE-----\nnot base64!!\n";
  t.ca_file = garbage;
  EXPECT_FALSE(ValidateTlsOptions(t).ok());

  t = TlsOptions();
  t.cert_file = certs_->client_cert;
  s = ValidateTlsOptions(t);
  EXPECT_THAT(std::string(s.message()), HasSubstr("without key_file"));

  t.key_file = certs_->client_cert;  // a certificate is not a key
  s = ValidateTlsOptions(t);
  EXPECT_THAT(std::string(s.message()), HasSubstr("key_file"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("no PEM private key"));

  t.key_file = certs_->other_key;  // a key of another certificate
  s = ValidateTlsOptions(t);
  EXPECT_THAT(std::string(s.message()), HasSubstr("does not match"));

  t = TlsOptions();
  t.min_version = "SSL3";
  s = ValidateTlsOptions(t);
  EXPECT_THAT(std::string(s.message()), HasSubstr("min_version"));
}

}  // namespace
}  // namespace vigil::net
