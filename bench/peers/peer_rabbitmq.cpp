// bench/peers/peer_rabbitmq.cpp — RabbitMQ over AMQP 0-9-1 with rabbitmq-c (librabbitmq): a durable
// classic or quorum queue, persistent messages (delivery_mode 2), publisher confirms (each batch's
// basic.ack frames awaited before the next batch), basic.qos prefetch and a manual basic.ack per
// message. One connection and channel per thread; the server runs on 127.0.0.1
// (bench/peers/servers.sh).
#include <amqp.h>
#include <amqp_tcp_socket.h>

#include <sys/time.h>
#include <string>

#include "peer.hpp"

namespace corq::peers {
namespace {

constexpr amqp_channel_t channel = 1;
constexpr int frame_max = 131072;
constexpr int confirm_timeout_s = 60;  // a batch not confirmed by then fails the run

void check_reply(amqp_rpc_reply_t reply, const char *what) {
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL: return;
    case AMQP_RESPONSE_NONE: throw PeerError(std::string(what) + ": missing RPC reply");
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      throw PeerError(std::string(what) + ": " + amqp_error_string2(reply.library_error));
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        const auto *m = static_cast<amqp_connection_close_t *>(reply.reply.decoded);
        throw PeerError(
            std::string(what) + ": connection closed by server: " +
            std::string(static_cast<const char *>(m->reply_text.bytes), m->reply_text.len));
      }
      if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        const auto *m = static_cast<amqp_channel_close_t *>(reply.reply.decoded);
        throw PeerError(
            std::string(what) + ": channel closed by server: " +
            std::string(static_cast<const char *>(m->reply_text.bytes), m->reply_text.len));
      }
      throw PeerError(std::string(what) + ": server exception");
  }
  throw PeerError(std::string(what) + ": unknown reply");
}

void check_status(int status, const char *what) {
  if (status < 0) throw PeerError(std::string(what) + ": " + amqp_error_string2(status));
}

/// One AMQP connection with channel 1 open (guest/guest on the default vhost, loopback only).
class Connection {
 public:
  Connection(const PeerOptions &o) : conn_(amqp_new_connection()) {
    if (conn_ == nullptr) throw PeerError("amqp_new_connection: out of memory");
    amqp_socket_t *socket = amqp_tcp_socket_new(conn_);
    if (socket == nullptr) throw PeerError("amqp_tcp_socket_new failed");
    timeval tv{10, 0};
    check_status(amqp_socket_open_noblock(socket, o.host.c_str(), o.port, &tv), "amqp_socket_open");
    check_reply(amqp_login(conn_, "/", 0, frame_max, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest"),
                "amqp_login");
    amqp_channel_open(conn_, channel);
    check_reply(amqp_get_rpc_reply(conn_), "amqp_channel_open");
  }
  ~Connection() {
    amqp_channel_close(conn_, channel, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn_, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn_);
  }
  Connection(const Connection &) = delete;
  Connection &operator=(const Connection &) = delete;
  amqp_connection_state_t get() const { return conn_; }

 private:
  amqp_connection_state_t conn_;
};

class RabbitProducer final : public PeerProducer {
 public:
  RabbitProducer(const PeerOptions &o) : conn_(o), queue_(o.queue) {
    amqp_confirm_select(conn_.get(), channel);
    check_reply(amqp_get_rpc_reply(conn_.get()), "amqp_confirm_select");
  }

  void publish_confirmed(const std::vector<const unsigned char *> &payloads,
                         std::size_t size) override {
    amqp_basic_properties_t props{};
    props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
    props.delivery_mode = 2;  // persistent
    const std::uint64_t first = next_tag_;
    for (const unsigned char *p : payloads) {
      amqp_bytes_t body{size, const_cast<unsigned char *>(p)};
      check_status(amqp_basic_publish(conn_.get(), channel, amqp_empty_bytes,
                                      amqp_cstring_bytes(queue_.c_str()), 0, 0, &props, body),
                   "amqp_basic_publish");
      ++next_tag_;
    }
    wait_confirms(first, next_tag_);
  }

 private:
  /// Reads frames until every publish tag in [first, end) is confirmed by basic.ack (one by one or
  /// `multiple`); a basic.nack or a closed channel fails the run.
  void wait_confirms(std::uint64_t first, std::uint64_t end) {
    confirmed_.assign(end - first, false);
    std::size_t outstanding = end - first;
    while (outstanding > 0) {
      amqp_frame_t frame;
      timeval tv{confirm_timeout_s, 0};
      const int status = amqp_simple_wait_frame_noblock(conn_.get(), &frame, &tv);
      if (status == AMQP_STATUS_TIMEOUT) throw PeerError("publisher confirms timed out");
      check_status(status, "amqp_simple_wait_frame");
      if (frame.frame_type != AMQP_FRAME_METHOD) continue;
      if (frame.payload.method.id == AMQP_BASIC_NACK_METHOD) {
        throw PeerError("the broker nacked a publish (basic.nack)");
      }
      if (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
          frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
        throw PeerError("the broker closed the channel while publishing");
      }
      if (frame.payload.method.id != AMQP_BASIC_ACK_METHOD) continue;
      const auto *ack = static_cast<amqp_basic_ack_t *>(frame.payload.method.decoded);
      const std::uint64_t low = ack->multiple ? first : ack->delivery_tag;
      for (std::uint64_t t = std::max(low, first); t <= ack->delivery_tag && t < end; ++t) {
        if (!confirmed_[t - first]) {
          confirmed_[t - first] = true;
          --outstanding;
        }
      }
    }
    amqp_maybe_release_buffers(conn_.get());
  }

  Connection conn_;
  std::string queue_;
  std::uint64_t next_tag_ = 1;  // publish sequence numbers start at 1 after confirm.select
  std::vector<bool> confirmed_;
};

class RabbitConsumer final : public PeerConsumer {
 public:
  RabbitConsumer(const PeerOptions &o) : conn_(o), size_(o.size) {
    amqp_basic_qos(conn_.get(), channel, 0,
                   static_cast<std::uint16_t>(std::min<std::uint32_t>(o.prefetch, 65535)), 0);
    check_reply(amqp_get_rpc_reply(conn_.get()), "amqp_basic_qos");
    amqp_basic_consume(conn_.get(), channel, amqp_cstring_bytes(o.queue.c_str()), amqp_empty_bytes,
                       0, 0 /* manual acks */, 0, amqp_empty_table);
    check_reply(amqp_get_rpc_reply(conn_.get()), "amqp_basic_consume");
  }

  std::size_t fetch(std::vector<Delivery> &out, std::size_t max, int timeout_ms) override {
    out.clear();
    amqp_maybe_release_buffers(conn_.get());
    // Wait for the first delivery; then take what has already arrived, without waiting.
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    while (out.size() < max) {
      if (!out.empty() && !amqp_data_in_buffer(conn_.get()) && !amqp_frames_enqueued(conn_.get())) {
        break;
      }
      amqp_envelope_t envelope;
      const amqp_rpc_reply_t reply = amqp_consume_message(conn_.get(), &envelope, &tv, 0);
      if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
          reply.library_error == AMQP_STATUS_TIMEOUT) {
        break;
      }
      check_reply(reply, "amqp_consume_message");
      Delivery d;
      decode_payload(envelope.message.body.bytes, envelope.message.body.len, size_, d);
      d.tag = envelope.delivery_tag;
      d.redelivered = envelope.redelivered != 0;
      amqp_destroy_envelope(&envelope);
      out.push_back(std::move(d));
    }
    return out.size();
  }
  void ack(const Delivery &d) override {
    check_status(amqp_basic_ack(conn_.get(), channel, d.tag, 0), "amqp_basic_ack");
  }

 private:
  Connection conn_;
  std::size_t size_;
};

class RabbitSystem final : public PeerSystem {
 public:
  RabbitSystem(const PeerOptions &o, bool quorum) : options_(o), quorum_(quorum) {}
  ~RabbitSystem() override { teardown(); }

  std::string durability() const override {
    return quorum_ ? "quorum queue (Raft log fsynced before confirms), persistent messages, "
                     "publisher confirms, manual acks"
                   : "durable classic queue, persistent messages (delivery_mode 2), publisher "
                     "confirms (sent after fsync), manual acks";
  }
  void setup() override {
    admin_ = std::make_unique<Connection>(options_);
    amqp_queue_delete(admin_->get(), channel, amqp_cstring_bytes(options_.queue.c_str()), 0, 0);
    check_reply(amqp_get_rpc_reply(admin_->get()), "amqp_queue_delete");
    amqp_table_entry_t type;
    type.key = amqp_cstring_bytes("x-queue-type");
    type.value.kind = AMQP_FIELD_KIND_UTF8;
    type.value.value.bytes = amqp_cstring_bytes(quorum_ ? "quorum" : "classic");
    amqp_table_t arguments{1, &type};
    amqp_queue_declare(admin_->get(), channel, amqp_cstring_bytes(options_.queue.c_str()), 0,
                       1 /* durable */, 0, 0, arguments);
    check_reply(amqp_get_rpc_reply(admin_->get()), "amqp_queue_declare");
  }
  std::unique_ptr<PeerProducer> open_producer(std::size_t) override {
    return std::make_unique<RabbitProducer>(options_);
  }
  std::unique_ptr<PeerConsumer> open_consumer(std::size_t) override {
    return std::make_unique<RabbitConsumer>(options_);
  }
  void teardown() noexcept override {
    if (!admin_) return;
    amqp_queue_delete(admin_->get(), channel, amqp_cstring_bytes(options_.queue.c_str()), 0, 0);
    admin_.reset();
  }

 private:
  PeerOptions options_;
  bool quorum_;
  std::unique_ptr<Connection> admin_;
};

}  // namespace

std::unique_ptr<PeerSystem> make_rabbitmq(const PeerOptions &options, bool quorum) {
  return std::make_unique<RabbitSystem>(options, quorum);
}

}  // namespace corq::peers
