// corq_engine_id (DESIGN.md §9): a data directory's UUID, made at its first open, kept in
// DIR/ENGINE_ID and the same at every later open; a fresh one per in-memory engine.
#include <gtest/gtest.h>

#include <corq/corq.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "support/temp_dir.hpp"

namespace {

using corq::test::TempDir;

bool looks_like_uuid_v4(const std::string &id) {
  static const std::regex uuid(
      "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  return std::regex_match(id, uuid);
}

std::string id_of(corq_engine *engine) {
  char out[37];
  std::memset(out, 'x', sizeof out);
  EXPECT_EQ(corq_engine_id(engine, out), CORQ_OK);
  EXPECT_EQ(out[36], '\0');
  return out;
}

std::string open_and_read_id(const std::string &dir) {
  corq_engine *engine = nullptr;
  EXPECT_EQ(corq_open(dir.c_str(), nullptr, &engine), CORQ_OK) << corq_last_error();
  if (engine == nullptr) return {};
  std::string id = id_of(engine);
  EXPECT_EQ(corq_close(engine), CORQ_OK);
  return id;
}

std::string file_text(const std::string &path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(EngineId, InMemoryEnginesGetDistinctVersion4Uuids) {
  corq_engine *a = nullptr;
  corq_engine *b = nullptr;
  ASSERT_EQ(corq_open(nullptr, nullptr, &a), CORQ_OK);
  ASSERT_EQ(corq_open(nullptr, nullptr, &b), CORQ_OK);
  const std::string ia = id_of(a);
  const std::string ib = id_of(b);
  EXPECT_TRUE(looks_like_uuid_v4(ia)) << ia;
  EXPECT_TRUE(looks_like_uuid_v4(ib)) << ib;
  EXPECT_NE(ia, ib);
  EXPECT_EQ(id_of(a), ia);  // stable for the engine's life
  corq_close(a);
  corq_close(b);
}

TEST(EngineId, DataDirectoryKeepsItsIdAcrossOpens) {
  TempDir dir;
  const std::string first = open_and_read_id(dir.data());
  EXPECT_TRUE(looks_like_uuid_v4(first)) << first;
  EXPECT_EQ(file_text(dir.data() + "/ENGINE_ID"), first + "\n");
  EXPECT_EQ(open_and_read_id(dir.data()), first);
  EXPECT_EQ(open_and_read_id(dir.data()), first);
}

TEST(EngineId, TwoDirectoriesHaveDifferentIds) {
  TempDir a;
  TempDir b;
  EXPECT_NE(open_and_read_id(a.data()), open_and_read_id(b.data()));
}

TEST(EngineId, ALeftoverTempFileFromACrashBeforeTheRenameIsReplaced) {
  TempDir dir;
  const std::string first = open_and_read_id(dir.data());
  // A crash between writing ENGINE_ID.tmp and its rename: the id file is missing, a torn temp
  // file is there. Nothing can have been forwarded under an id that was never durable.
  std::filesystem::remove(dir.data() + "/ENGINE_ID");
  std::ofstream(dir.data() + "/ENGINE_ID.tmp") << "0123";
  const std::string second = open_and_read_id(dir.data());
  EXPECT_TRUE(looks_like_uuid_v4(second)) << second;
  EXPECT_NE(second, first);
  EXPECT_EQ(open_and_read_id(dir.data()), second);
}

TEST(EngineId, ADamagedIdFileFailsTheOpenAndIsLeftAlone) {
  TempDir dir;
  open_and_read_id(dir.data());
  const std::string path = dir.data() + "/ENGINE_ID";
  for (const std::string &damaged :
       {std::string("not-a-uuid\n"), std::string(""), std::string("0123456789abcdef")}) {
    std::ofstream(path, std::ios::trunc) << damaged;
    corq_engine *engine = nullptr;
    EXPECT_EQ(corq_open(dir.data().c_str(), nullptr, &engine), CORQ_ECORRUPT) << damaged;
    EXPECT_EQ(engine, nullptr);
    EXPECT_NE(std::strstr(corq_last_error(), "ENGINE_ID"), nullptr) << corq_last_error();
    EXPECT_EQ(file_text(path), damaged);  // not replaced: a new identity would defeat dedup
  }
}

TEST(EngineId, UppercaseOrBracedIdsAreNotAccepted) {
  TempDir dir;
  open_and_read_id(dir.data());
  std::ofstream(dir.data() + "/ENGINE_ID", std::ios::trunc)
      << "0123ABCD-0000-4000-8000-000000000000\n";
  corq_engine *engine = nullptr;
  EXPECT_EQ(corq_open(dir.data().c_str(), nullptr, &engine), CORQ_ECORRUPT);
}

TEST(EngineId, NullArgumentsAreRejected) {
  char out[37];
  EXPECT_EQ(corq_engine_id(nullptr, out), CORQ_EINVAL);
  EXPECT_NE(std::strstr(corq_last_error(), "engine is NULL"), nullptr);
  corq_engine *engine = nullptr;
  ASSERT_EQ(corq_open(nullptr, nullptr, &engine), CORQ_OK);
  EXPECT_EQ(corq_engine_id(engine, nullptr), CORQ_EINVAL);
  EXPECT_NE(std::strstr(corq_last_error(), "out is NULL"), nullptr);
  corq_close(engine);
}

}  // namespace
