CREATE TABLE `ai` (
  `a` int(11) NOT NULL,
  `id` int(11) NOT NULL AUTO_INCREMENT,
  PRIMARY KEY (`a`,`id`),
  KEY `id` (`id`),
  KEY `k2` (`a`)
) ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_swedish_ci