-- POST a new order every request (to /api/v1/payments, or to the path given).
-- args: first order id, API key, subscription (plan) id, path (optional).
local counter = 0

function init(args)
  first_order = tonumber(args[1])
  headers = {["X-API-Key"] = args[2], ["Content-Type"] = "application/json"}
  subscription = args[3]
  path = args[4] or "/api/v1/payments"
end

function request()
  counter = counter + 1
  -- Threads take disjoint ranges of order ids (10,000,000 each), so no order repeats.
  local order = first_order + thread_index * 10000000 + counter
  local body = string.format(
    '{"order_id": %d, "amount": "10.50", "price": "10.50", "alias": "stripe", ' ..
    '"subscription_id": %s, "currency": "USD"}', order, subscription)
  return wrk.format("POST", path, headers, body)
end
