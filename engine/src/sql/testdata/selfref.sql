CREATE TABLE `selfref` (
  `id` int(11) NOT NULL,
  `parent` int(11) DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `parent` (`parent`),
  CONSTRAINT `selfref_ibfk_1` FOREIGN KEY (`parent`) REFERENCES `selfref` (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_swedish_ci