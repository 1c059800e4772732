-- requires: lib-dead-letters.lua
-- Deletes dead letters and their reprocess requests. ARGV: prefix, ids. Returns how many were deleted.
local p = ARGV[1]
local deleted = 0
for i = 2, #ARGV do
  deleted = deleted + forget_dead_letter(p, ARGV[i])
end
return deleted
