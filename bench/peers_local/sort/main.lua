-- sort: table.sort of 1,000,000 pseudo-random integers (MINSTD), the peer
-- of bench/sort.sk.
local function main(n)
  local xs = {}
  local x = 42
  for i = 1, n do
    x = (x * 48271) % 2147483647
    xs[i] = x
  end
  table.sort(xs)
  local sum = 0
  for i = 1, n do
    sum = sum + (xs[i] % 1000) * ((i - 1) % 10)
  end
  print("checksum " .. sum)
end

main(1000000)
