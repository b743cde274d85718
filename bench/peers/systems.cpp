// bench/peers/systems.cpp — which systems this binary was built with (CMake defines
// CORQ_PEERS_WITH_<NAME> for each client library it found) and the factory by name.
#include "peer.hpp"

namespace corq::peers {

std::vector<std::string> systems_built() {
  std::vector<std::string> names{"corq-durable", "corq-transient", "corq-stream"};
#ifdef CORQ_PEERS_WITH_RABBITMQ
  names.insert(names.end(), {"rabbitmq-classic", "rabbitmq-quorum"});
#endif
#ifdef CORQ_PEERS_WITH_REDIS
  names.emplace_back("redis-streams");
#endif
#ifdef CORQ_PEERS_WITH_ROCKSDB
  names.emplace_back("rocksdb");
#endif
#ifdef CORQ_PEERS_WITH_SQLITE
  names.emplace_back("sqlite");
#endif
  return names;
}

std::unique_ptr<PeerSystem> make_system(const PeerOptions &o) {
  const std::string &s = o.system;
  if (s == "corq-durable" || s == "corq-transient") return make_corq(o, s == "corq-durable");
  if (s == "corq-stream") return make_corq_stream(o);
#ifdef CORQ_PEERS_WITH_RABBITMQ
  if (s == "rabbitmq-classic" || s == "rabbitmq-quorum")
    return make_rabbitmq(o, s == "rabbitmq-quorum");
#endif
#ifdef CORQ_PEERS_WITH_REDIS
  if (s == "redis-streams") return make_redis(o);
#endif
#ifdef CORQ_PEERS_WITH_ROCKSDB
  if (s == "rocksdb") return make_rocksdb(o);
#endif
#ifdef CORQ_PEERS_WITH_SQLITE
  if (s == "sqlite") return make_sqlite(o);
#endif
  std::string built;
  for (const auto &name : systems_built()) built += " " + name;
  throw PeerError("system '" + s + "' is unknown or not built into this binary (built:" + built +
                  ")");
}

}  // namespace corq::peers
