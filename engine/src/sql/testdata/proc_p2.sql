CREATE DEFINER=`root`@`localhost` PROCEDURE `p2`(IN cid INT)
BEGIN -- touches orders
  DECLARE n INT;
  /* orders.qty stays in comments */
  SELECT COUNT(*) INTO n FROM orders o WHERE o.customer_id = cid AND o.note <> 'shop.orders';
  UPDATE shop.orders SET qty = qty + 1 WHERE id = cid;
  INSERT INTO customers (id, name) VALUES (cid, "orders") ON DUPLICATE KEY UPDATE name = VALUES(name);
  DELETE FROM crm.contacts WHERE cust_id = cid;
END