#pragma once
// Subcommands of the `otaswarm` CLI. Each takes the arguments after its two words
// (e.g. for `otaswarm torrent create F ...`: {"F", ...}) and returns the exit code.
#include <cstdint>
#include <string>
#include <vector>

namespace otaswarm::cli {

using Args = std::vector<std::string>;

int torrent_create(const Args& args);   // cli/cmd_torrent.cpp
// Piece length `torrent create` picks when none is given (rule in docs/cli.md).
int64_t auto_piece_length(int64_t file_size);
int token_mint(const Args& args);       // cli/cmd_token.cpp
int release_command(const std::string& verb, const Args& args);  // cli/cmd_release.cpp: add|list|rm|show
int nat_probe(const Args& args);        // cli/cmd_nat.cpp
int turn_credentials(const Args& args); // cli/cmd_turn.cpp

}  // namespace otaswarm::cli
