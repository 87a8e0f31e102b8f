#include "server/http/test_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace vigil::server::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

TestResponse Do(int port, bhttp::verb verb, const std::string& target,
                const std::string& body, const std::string& content_type) {
  TestResponse out;
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  beast::error_code ec;
  stream.connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"),
                                        static_cast<unsigned short>(port)),
                 ec);
  if (ec) return out;
  bhttp::request<bhttp::string_body> req(verb, target, 11);
  req.set(bhttp::field::host, "127.0.0.1");
  if (verb != bhttp::verb::get) {
    req.set(bhttp::field::content_type, content_type);
    req.body() = body;
  }
  req.prepare_payload();
  bhttp::write(stream, req, ec);
  if (ec) return out;
  beast::flat_buffer buf;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(1ULL << 30);
  bhttp::read(stream, buf, parser, ec);
  if (ec) return out;
  const auto& res = parser.get();
  out.status = res.result_int();
  out.content_type = std::string(res[bhttp::field::content_type]);
  out.body = res.body();
  stream.socket().shutdown(net::ip::tcp::socket::shutdown_both, ec);
  return out;
}

}  // namespace

TestResponse HttpGet(int port, const std::string& target) {
  return Do(port, bhttp::verb::get, target, "", "");
}

TestResponse HttpPost(int port, const std::string& target,
                      const std::string& body,
                      const std::string& content_type) {
  return Do(port, bhttp::verb::post, target, body, content_type);
}

}  // namespace vigil::server::http
