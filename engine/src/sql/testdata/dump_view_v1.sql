/*!50001 CREATE ALGORITHM=UNDEFINED */
/*!50013 DEFINER=`root`@`localhost` SQL SECURITY DEFINER */
/*!50001 VIEW `v1` AS select `o`.`id` AS `id`,`o`.`qty` AS `qty`,`c`.`name` AS `cname`,'orders.qty' AS `lit` from (`orders` `o` join `customers` `c` on(`c`.`id` = `o`.`customer_id`)) where `o`.`note` <> 'x' */