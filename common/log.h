#pragma once
// Structured logging: one JSON object per line on stderr.
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace otaswarm::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3 };

void set_level(Level level);
Level level();
bool parse_level(std::string_view text, Level& out);

using Field = std::pair<std::string_view, std::string>;

// Writes {"ts":..., "level":..., "msg":..., fields...} atomically (one write per line).
void write(Level level, std::string_view msg, std::initializer_list<Field> fields = {});

inline void debug(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::debug, m, f); }
inline void info(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::info, m, f); }
inline void warn(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::warn, m, f); }
inline void error(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::error, m, f); }

}  // namespace otaswarm::log
